package main

import (
	"flag"
	"fmt"
	"github.com/kycgw/kycgw/internal/mdtable"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kycgw/kycgw/internal/app"
	"github.com/kycgw/kycgw/internal/config"
)

// The README's "Configuration" section is the configuration reference. These tests hold it to
// the binary: every flag and every configuration-file key has exactly one row, with the
// flag's real environment variable and default, and no row names something that does not
// exist. A new flag or key therefore fails here until it is documented.

const readmePath = "../../README.md"

// TestConfigReferenceFlags checks the flag table against newFlagSet, both ways.
func TestConfigReferenceFlags(t *testing.T) {
	for _, p := range checkFlagTable(readREADME(t), realFlags()) {
		t.Error(p)
	}
}

// TestConfigReferenceKeys checks the configuration-key table against the YAML tags of
// config.Config, walked by reflection, both ways; the type column must match the Go type.
func TestConfigReferenceKeys(t *testing.T) {
	for _, p := range checkKeyTable(readREADME(t), yamlKeys(reflect.TypeFor[config.Config](), "")) {
		t.Error(p)
	}
}

// TestConfigReferenceCatchesDrift runs the checks on a reference written from the real flags
// and keys, which must pass, and on altered copies of it, which must fail naming the problem:
// the checks cannot pass by checking nothing.
func TestConfigReferenceCatchesDrift(t *testing.T) {
	fs := realFlags()
	keys := yamlKeys(reflect.TypeFor[config.Config](), "")
	var b strings.Builder
	b.WriteString("# kycgw\n\n## Configuration\n\n| flag | environment | default | meaning |\n|---|---|---|---|\n")
	fs.VisitAll(func(f *flag.Flag) { b.WriteString(suggestFlagRow(f) + "\n") })
	b.WriteString("\nText.\n\n| key | type | default | meaning |\n|---|---|---|---|\n")
	for _, k := range sortedKeys(keys) {
		b.WriteString(suggestKeyRow(k, keys[k]) + "\n")
	}
	b.WriteString("\n## Development\n\n| flag | environment | default | meaning |\n|---|---|---|---|\n| `--not-here` | `X` | | ignored: another section |\n")
	good := b.String()
	check := func(readme string) []string {
		return append(checkFlagTable([]byte(readme), fs), checkKeyTable([]byte(readme), keys)...)
	}
	if problems := check(good); len(problems) > 0 {
		t.Fatalf("the reference written from the flags and keys fails: %q\n%s", problems, good)
	}

	cases := []struct{ name, old, new, want string }{
		{"missing flag", "| `--log-level` | `KYCGW_LOG_LEVEL` |", "| `--log-format` | `KYCGW_LOG_FORMAT` |",
			"flag --log-level is missing from the Configuration flag table; add the row:\n| `--log-level` | `KYCGW_LOG_LEVEL` | `info` |"},
		{"unknown flag", "| `--log-level` |", "| `--log-levels` |", "--log-levels is not a flag of kycgw"},
		{"wrong env", "| `KYCGW_LOG_LEVEL` |", "| `KYCGW_LOGLEVEL` |", "--log-level: environment column is \"`KYCGW_LOGLEVEL`\", want `KYCGW_LOG_LEVEL`"},
		{"wrong default", "| `KYCGW_EVENT_MAX_AGE` | `24h` |", "| `KYCGW_EVENT_MAX_AGE` | `12h` |", "--event-max-age: default column is \"`12h`\", want `24h`"},
		{"empty default not said", "| `KYCGW_REDIS_ADDRS` | (none: ...) |", "| `KYCGW_REDIS_ADDRS` | |", "--redis-addrs: default column is \"\", but the flag has no default"},
		{"two flags in a row", "| `--tls-key-file` |", "| `--tls-key-file`, `--tls-cert-file` |", "must name exactly one flag"},
		{"no meaning", "| `KYCGW_LOG_LEVEL` | `info` | log level: debug, info, warn or error |", "| `KYCGW_LOG_LEVEL` | `info` | |", "--log-level: the meaning column is empty"},
		{"missing key", "| `tenants[].max_streams` |", "| `tenants[].max_stream` |", "configuration key tenants[].max_streams is missing from the Configuration key table; add the row:\n| `tenants[].max_streams` | int |"},
		{"unknown key", "| `tenants[].max_streams` |", "| `tenants[].max_stream` |", "\"tenants[].max_stream\" is not a configuration-file key"},
		{"wrong type", "| `providers[].timeout` | duration |", "| `providers[].timeout` | string |", "key providers[].timeout: type column is \"string\", want \"duration\""},
		{"no key table", "| key | type |", "| name | type |", "no table whose first column is \"key\""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(good, tc.old) {
				t.Fatalf("the reference has no %q to alter:\n%s", tc.old, good)
			}
			problems := check(strings.Replace(good, tc.old, tc.new, 1))
			if !strings.Contains(strings.Join(problems, "\n"), tc.want) {
				t.Fatalf("problems = %q, want one containing %q", problems, tc.want)
			}
		})
	}
}

func readREADME(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// realFlags is the binary's flag set, as parseFlags builds it.
func realFlags() *flag.FlagSet {
	var cfg app.Config
	var lc logConfig
	var o options
	return newFlagSet(&cfg, &lc, &o, io.Discard)
}

// checkFlagTable returns every disagreement between the README's flag table and fs.
func checkFlagTable(readme []byte, fs *flag.FlagSet) []string {
	rows, problems := readConfigTable(readme, "flag")
	documented := map[string]mdtable.Row{}
	for _, r := range rows {
		name, ok := flagCell(r.Cells[0])
		if !ok {
			problems = append(problems, fmt.Sprintf("README.md line %d: the flag cell %q must name exactly one flag, like `--grpc-addr` (one row per flag)", r.Line, r.Cells[0]))
			continue
		}
		if prev, dup := documented[name]; dup {
			problems = append(problems, fmt.Sprintf("README.md line %d: --%s is documented twice (also line %d); keep one row", r.Line, name, prev.Line))
		}
		documented[name] = r
		f := fs.Lookup(name)
		if f == nil {
			problems = append(problems, fmt.Sprintf("README.md line %d: --%s is not a flag of kycgw (see newFlagSet in cmd/kycgw/main.go); remove the row or add the flag", r.Line, name))
			continue
		}
		if got, want := unquote(r.Cells[1]), EnvName(name); got != want {
			problems = append(problems, fmt.Sprintf("README.md line %d: --%s: environment column is %q, want `%s`", r.Line, name, r.Cells[1], want))
		}
		if msg := checkDefault(f, r.Cells[2]); msg != "" {
			problems = append(problems, fmt.Sprintf("README.md line %d: --%s: %s", r.Line, name, msg))
		}
		if r.Cells[3] == "" {
			problems = append(problems, fmt.Sprintf("README.md line %d: --%s: the meaning column is empty", r.Line, name))
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		if _, ok := documented[f.Name]; !ok {
			problems = append(problems, fmt.Sprintf("README.md: flag --%s is missing from the Configuration flag table; add the row:\n%s", f.Name, suggestFlagRow(f)))
		}
	})
	return problems
}

// checkKeyTable returns every disagreement between the README's key table and keys (from
// yamlKeys).
func checkKeyTable(readme []byte, keys map[string]string) []string {
	rows, problems := readConfigTable(readme, "key")
	documented := map[string]mdtable.Row{}
	for _, r := range rows {
		key := unquote(r.Cells[0])
		if prev, dup := documented[key]; dup {
			problems = append(problems, fmt.Sprintf("README.md line %d: key %s is documented twice (also line %d); keep one row", r.Line, key, prev.Line))
		}
		documented[key] = r
		want, ok := keys[key]
		if !ok {
			problems = append(problems, fmt.Sprintf("README.md line %d: %q is not a configuration-file key (yaml tags in internal/config, written like `providers[].name`); remove the row or fix the key", r.Line, key))
			continue
		}
		if got := r.Cells[1]; got != want {
			problems = append(problems, fmt.Sprintf("README.md line %d: key %s: type column is %q, want %q", r.Line, key, got, want))
		}
		if r.Cells[3] == "" {
			problems = append(problems, fmt.Sprintf("README.md line %d: key %s: the meaning column is empty", r.Line, key))
		}
	}
	for _, key := range sortedKeys(keys) {
		if _, ok := documented[key]; !ok {
			problems = append(problems, fmt.Sprintf("README.md: configuration key %s is missing from the Configuration key table; add the row:\n%s", key, suggestKeyRow(key, keys[key])))
		}
	}
	return problems
}

// readConfigTable returns the rows of the table in README.md's "## Configuration" section
// whose header's first column is first ("flag" or "key"), and what is malformed.
func readConfigTable(readme []byte, first string) ([]mdtable.Row, []string) {
	return mdtable.Table(readme, "README.md", "Configuration", first, 4)
}

// unquote drops the code backticks around a cell.
func unquote(cell string) string {
	return strings.TrimSpace(strings.Trim(strings.TrimSpace(cell), "`"))
}

// flagCell reads a flag cell, "`--name`", into its name.
func flagCell(cell string) (string, bool) {
	s := unquote(cell)
	if !strings.HasPrefix(s, "--") || strings.ContainsAny(s, "`, ") {
		return "", false
	}
	return strings.TrimPrefix(s, "--"), true
}

// checkDefault compares a default cell with the flag's default, returning what is wrong. An
// empty default is written "(none)" or "(none: what that means)"; durations compare by value,
// so `24h` documents 24h0m0s.
func checkDefault(f *flag.Flag, cell string) string {
	doc := unquote(cell)
	if f.DefValue == "" {
		if doc != "(none)" && !strings.HasPrefix(doc, "(none:") {
			return fmt.Sprintf("default column is %q, but the flag has no default: write (none) or (none: what happens then)", cell)
		}
		return ""
	}
	if doc == f.DefValue {
		return ""
	}
	if g, ok := f.Value.(flag.Getter); ok {
		if want, ok := g.Get().(time.Duration); ok {
			if got, err := time.ParseDuration(doc); err == nil && got == want {
				return ""
			}
		}
	}
	return fmt.Sprintf("default column is %q, want `%s` (the flag's default)", cell, shortDefault(f))
}

// shortDefault is a flag's default as the README writes it: durations without zero units.
func shortDefault(f *flag.Flag) string {
	if f.DefValue == "" {
		return "(none: ...)"
	}
	if g, ok := f.Value.(flag.Getter); ok {
		if d, ok := g.Get().(time.Duration); ok {
			s := d.String()
			if strings.HasSuffix(s, "m0s") {
				s = strings.TrimSuffix(s, "0s")
			}
			if strings.HasSuffix(s, "h0m") {
				s = strings.TrimSuffix(s, "0m")
			}
			return s
		}
	}
	return f.DefValue
}

func suggestFlagRow(f *flag.Flag) string {
	def := "`" + shortDefault(f) + "`"
	if f.DefValue == "" {
		def = "(none: ...)"
	}
	return fmt.Sprintf("| `--%s` | `%s` | %s | %s |", f.Name, EnvName(f.Name), def, strings.ReplaceAll(f.Usage, "|", `\|`))
}

func suggestKeyRow(key, typ string) string {
	return fmt.Sprintf("| `%s` | %s | <default> | <meaning> |", key, typ)
}

var durationType = reflect.TypeFor[config.Duration]()

// yamlKeys walks a struct type's yaml tags: the result maps each key path, written
// "providers[].name", to its type as the README names it.
func yamlKeys(t reflect.Type, prefix string) map[string]string {
	keys := map[string]string{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name) // yaml.v3's default
		}
		path := prefix + name
		ft := f.Type
		switch {
		case ft == durationType:
			keys[path] = "duration"
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			keys[path] = "list"
			for k, v := range yamlKeys(ft.Elem(), path+"[].") {
				keys[k] = v
			}
		case ft.Kind() == reflect.Struct:
			keys[path] = "map"
			for k, v := range yamlKeys(ft, path+".") {
				keys[k] = v
			}
		case ft.Kind() == reflect.Slice:
			keys[path] = "list of " + scalarName(ft.Elem()) + "s"
		default:
			keys[path] = scalarName(ft)
		}
	}
	return keys
}

func scalarName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int32, reflect.Int64:
		return "int"
	case reflect.Map:
		return "map"
	}
	return t.Kind().String()
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
