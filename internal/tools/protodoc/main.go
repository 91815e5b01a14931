// Command protodoc writes the generated part of docs/api.md from the kycgw proto: each service
// and its RPCs with their REST mappings, each message with its fields, each enum with its
// values, all with their proto comments.
//
// It reads a FileDescriptorSet with source info, as `buf build -o -` writes it, on standard
// input: the descriptors compiled into gen/ carry no comments. The REST mappings come from the
// grpc-gateway service configuration (proto/gateway.yaml). The output file's hand-written
// part, everything up to and including the marker line, is kept as it is; the rest is
// replaced. `make generate` runs it, so `make checkgenerate` fails when docs/api.md is stale.
//
// It is a development tool: nothing in the gateway imports it.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// Marker ends the hand-written part of the output file.
const Marker = "<!-- Generated below by internal/tools/protodoc (make generate) from proto/: edit the .proto files, not this part. -->"

func main() {
	httpPath := flag.String("http", "proto/gateway.yaml", "grpc-gateway service configuration with the HTTP rules")
	out := flag.String("out", "docs/api.md", "Markdown file whose part after the marker line is replaced")
	flag.Parse()
	if err := run(os.Stdin, *httpPath, *out); err != nil {
		fmt.Fprintln(os.Stderr, "protodoc:", err)
		os.Exit(1)
	}
}

func run(stdin io.Reader, httpPath, out string) error {
	image, err := io.ReadAll(stdin)
	if err != nil {
		return err
	}
	files, err := parseImage(image)
	if err != nil {
		return err
	}
	gw, err := os.ReadFile(httpPath)
	if err != nil {
		return err
	}
	rules, err := parseHTTPRules(gw)
	if err != nil {
		return fmt.Errorf("%s: %w", httpPath, err)
	}
	ref, err := Render(files, rules)
	if err != nil {
		return err
	}
	old, err := os.ReadFile(out)
	if err != nil {
		return err
	}
	doc, err := Splice(old, ref)
	if err != nil {
		return fmt.Errorf("%s: %w", out, err)
	}
	if bytes.Equal(doc, old) {
		return nil
	}
	return os.WriteFile(out, doc, 0o644)
}

// parseImage reads a FileDescriptorSet and returns the files to document: those outside
// google/, which are only imported.
func parseImage(b []byte) ([]protoreflect.FileDescriptor, error) {
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("reading the descriptor set: %w", err)
	}
	if len(set.GetFile()) == 0 {
		return nil, errors.New("the descriptor set on standard input is empty (pipe `buf build -o -` into protodoc)")
	}
	reg, err := protodesc.NewFiles(&set)
	if err != nil {
		return nil, err
	}
	var files []protoreflect.FileDescriptor
	reg.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		if !strings.HasPrefix(fd.Path(), "google/") {
			files = append(files, fd)
		}
		return true
	})
	slices.SortFunc(files, func(a, b protoreflect.FileDescriptor) int { return strings.Compare(a.Path(), b.Path()) })
	return files, nil
}

// Splice keeps old up to and including the marker line and appends ref after it.
func Splice(old, ref []byte) ([]byte, error) {
	i := bytes.Index(old, []byte(Marker))
	if i < 0 {
		return nil, fmt.Errorf("no marker line %q ending the hand-written part", Marker)
	}
	head := old[:i+len(Marker)]
	return slices.Concat(head, []byte("\n\n"), bytes.TrimSpace(ref), []byte("\n")), nil
}

// HTTPRule is one REST mapping of an RPC, as in google.api.HttpRule.
type HTTPRule struct {
	Selector           string     `yaml:"selector"`
	Get                string     `yaml:"get"`
	Put                string     `yaml:"put"`
	Post               string     `yaml:"post"`
	Delete             string     `yaml:"delete"`
	Patch              string     `yaml:"patch"`
	Body               string     `yaml:"body"`
	ResponseBody       string     `yaml:"response_body"`
	AdditionalBindings []HTTPRule `yaml:"additional_bindings"`
}

func (r HTTPRule) verbPath() (string, string) {
	for _, vp := range [][2]string{{"GET", r.Get}, {"POST", r.Post}, {"PUT", r.Put}, {"DELETE", r.Delete}, {"PATCH", r.Patch}} {
		if vp[1] != "" {
			return vp[0], vp[1]
		}
	}
	return "", ""
}

// parseHTTPRules reads the http.rules of a grpc-gateway service configuration, by selector.
func parseHTTPRules(b []byte) (map[string]HTTPRule, error) {
	var cfg struct {
		HTTP struct {
			Rules []HTTPRule `yaml:"rules"`
		} `yaml:"http"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		return nil, err
	}
	rules := map[string]HTTPRule{}
	for _, r := range cfg.HTTP.Rules {
		if _, dup := rules[r.Selector]; dup {
			return nil, fmt.Errorf("two rules for %s", r.Selector)
		}
		if v, _ := r.verbPath(); v == "" {
			return nil, fmt.Errorf("rule for %s has no get, post, put, delete or patch", r.Selector)
		}
		rules[r.Selector] = r
	}
	return rules, nil
}

// Render writes the reference of files in Markdown. Every rule must name an RPC of files.
func Render(files []protoreflect.FileDescriptor, rules map[string]HTTPRule) ([]byte, error) {
	r := &renderer{local: map[protoreflect.FullName]string{}}
	for _, fd := range files {
		r.index(fd.Messages(), fd.Enums())
	}
	used := map[string]bool{}
	for _, fd := range files {
		r.file(fd, rules, used)
	}
	for sel := range rules {
		if !used[sel] {
			return nil, fmt.Errorf("HTTP rule for %s, which is not an RPC of the documented files", sel)
		}
	}
	return r.b.Bytes(), nil
}

type renderer struct {
	b bytes.Buffer
	// local maps the messages and enums being documented to their headings' anchors.
	local map[protoreflect.FullName]string
}

func (r *renderer) index(msgs protoreflect.MessageDescriptors, enums protoreflect.EnumDescriptors) {
	for i := range msgs.Len() {
		m := msgs.Get(i)
		if m.IsMapEntry() {
			continue
		}
		r.local[m.FullName()] = anchor(localName(m))
		r.index(m.Messages(), m.Enums())
	}
	for i := range enums.Len() {
		e := enums.Get(i)
		r.local[e.FullName()] = anchor(localName(e))
	}
}

func (r *renderer) printf(format string, args ...any) { fmt.Fprintf(&r.b, format, args...) }

func (r *renderer) file(fd protoreflect.FileDescriptor, rules map[string]HTTPRule, used map[string]bool) {
	r.printf("## Reference: `%s`\n\n", fd.Path())
	r.printf("Package `%s`. Every type below is in this package. JSON field names over REST are the proto field names as written here.\n\n", fd.Package())

	if fd.Services().Len() > 0 {
		r.printf("### Services\n\n")
	}
	for i := range fd.Services().Len() {
		r.service(fd.Services().Get(i), rules, used)
	}
	var msgs []protoreflect.MessageDescriptor
	var enums []protoreflect.EnumDescriptor
	collect(fd.Messages(), fd.Enums(), &msgs, &enums)
	if len(msgs) > 0 {
		r.printf("### Messages\n\n")
	}
	for _, m := range msgs {
		r.message(m)
	}
	if len(enums) > 0 {
		r.printf("### Enums\n\n")
	}
	for _, e := range enums {
		r.enum(e)
	}
}

// collect lists messages and enums depth first, nested ones after their parent.
func collect(ms protoreflect.MessageDescriptors, es protoreflect.EnumDescriptors, msgs *[]protoreflect.MessageDescriptor, enums *[]protoreflect.EnumDescriptor) {
	for i := range ms.Len() {
		m := ms.Get(i)
		if m.IsMapEntry() {
			continue
		}
		*msgs = append(*msgs, m)
		collect(m.Messages(), m.Enums(), msgs, enums)
	}
	for i := range es.Len() {
		*enums = append(*enums, es.Get(i))
	}
}

func (r *renderer) service(sd protoreflect.ServiceDescriptor, rules map[string]HTTPRule, used map[string]bool) {
	r.printf("#### %s\n\n", sd.Name())
	r.block(comment(sd))
	r.printf("| RPC | request | response | REST |\n|---|---|---|---|\n")
	for i := range sd.Methods().Len() {
		md := sd.Methods().Get(i)
		rest := "(gRPC only)"
		if rule, ok := rules[string(md.FullName())]; ok {
			v, p := rule.verbPath()
			rest = fmt.Sprintf("`%s %s`", v, p)
		}
		r.printf("| [%s](#%s) | %s | %s | %s |\n", md.Name(), anchor(string(sd.Name())+"."+string(md.Name())),
			r.typeLink(md.Input()), streamed(md.IsStreamingServer(), r.typeLink(md.Output())), rest)
	}
	r.printf("\n")
	for i := range sd.Methods().Len() {
		md := sd.Methods().Get(i)
		r.printf("##### %s.%s\n\n", sd.Name(), md.Name())
		r.printf("- gRPC: `/%s/%s`, %s → %s\n", sd.FullName(), md.Name(),
			streamed(md.IsStreamingClient(), r.typeLink(md.Input())), streamed(md.IsStreamingServer(), r.typeLink(md.Output())))
		if rule, ok := rules[string(md.FullName())]; ok {
			used[string(md.FullName())] = true
			for _, b := range append([]HTTPRule{rule}, rule.AdditionalBindings...) {
				r.printf("- REST: %s\n", restBinding(b))
			}
		} else {
			r.printf("- REST: none (gRPC only)\n")
		}
		r.printf("\n")
		r.block(comment(md))
	}
}

func restBinding(b HTTPRule) string {
	v, p := b.verbPath()
	s := fmt.Sprintf("`%s %s`", v, p)
	switch b.Body {
	case "":
		if strings.Contains(p, "{") {
			s += "; the fields in braces come from the path, the others from the query string"
		} else {
			s += "; the fields come from the query string"
		}
	case "*":
		s += "; the request is the JSON body"
	default:
		s += fmt.Sprintf("; `%s` is the JSON body", b.Body)
	}
	if b.ResponseBody != "" {
		s += fmt.Sprintf("; the response body is its `%s`", b.ResponseBody)
	}
	return s
}

func streamed(stream bool, s string) string {
	if stream {
		return "stream " + s
	}
	return s
}

func (r *renderer) message(m protoreflect.MessageDescriptor) {
	r.printf("#### %s\n\n", localName(m))
	r.block(comment(m))
	for i := range m.Oneofs().Len() {
		o := m.Oneofs().Get(i)
		if o.IsSynthetic() {
			continue
		}
		var names []string
		for j := range o.Fields().Len() {
			names = append(names, "`"+string(o.Fields().Get(j).Name())+"`")
		}
		set := "at most one of " + strings.Join(names, ", ") + " is set"
		if len(names) == 1 {
			set = names[0] + " or nothing"
		}
		r.printf("%s\n\n", strings.TrimSpace(fmt.Sprintf("Oneof `%s`: %s. %s", o.Name(), set, cell(comment(o)))))
	}
	if m.Fields().Len() == 0 {
		r.printf("No fields.\n\n")
		return
	}
	r.printf("| field | type | description |\n|---|---|---|\n")
	for i := range m.Fields().Len() {
		f := m.Fields().Get(i)
		desc := cell(comment(f))
		if o := f.ContainingOneof(); o != nil && !o.IsSynthetic() {
			desc = strings.TrimSpace(fmt.Sprintf("oneof `%s`. %s", o.Name(), desc))
		}
		r.printf("| `%s` | %s | %s |\n", f.Name(), r.fieldType(f), desc)
	}
	r.printf("\n")
}

func (r *renderer) enum(e protoreflect.EnumDescriptor) {
	r.printf("#### %s\n\n", localName(e))
	r.block(comment(e))
	r.printf("| value | number | description |\n|---|---|---|\n")
	for i := range e.Values().Len() {
		v := e.Values().Get(i)
		r.printf("| `%s` | %d | %s |\n", v.Name(), v.Number(), cell(comment(v)))
	}
	r.printf("\n")
}

func (r *renderer) fieldType(f protoreflect.FieldDescriptor) string {
	if f.IsMap() {
		return fmt.Sprintf("map<%s, %s>", r.kindName(f.MapKey()), r.kindName(f.MapValue()))
	}
	t := r.kindName(f)
	switch {
	case f.IsList():
		return "repeated " + t
	case f.HasOptionalKeyword():
		return "optional " + t
	}
	return t
}

func (r *renderer) kindName(f protoreflect.FieldDescriptor) string {
	switch f.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return r.typeLink(f.Message())
	case protoreflect.EnumKind:
		return r.typeLink(f.Enum())
	}
	return "`" + f.Kind().String() + "`"
}

// wellKnown are the imported types the API uses, with what they are in JSON.
var wellKnown = map[protoreflect.FullName]string{
	"google.protobuf.Timestamp": "[`google.protobuf.Timestamp`](https://protobuf.dev/reference/protobuf/google.protobuf/#timestamp) (RFC 3339 string in JSON)",
	"google.protobuf.Duration":  "[`google.protobuf.Duration`](https://protobuf.dev/reference/protobuf/google.protobuf/#duration) (\"1.5s\" in JSON)",
	"google.protobuf.Empty":     "[`google.protobuf.Empty`](https://protobuf.dev/reference/protobuf/google.protobuf/#empty)",
}

func (r *renderer) typeLink(d protoreflect.Descriptor) string {
	if a, ok := r.local[d.FullName()]; ok {
		return fmt.Sprintf("[%s](#%s)", localName(d), a)
	}
	if s, ok := wellKnown[d.FullName()]; ok {
		return s
	}
	return "`" + string(d.FullName()) + "`"
}

// localName is a type's name within its package: "Outer.Inner" for a nested one.
func localName(d protoreflect.Descriptor) string {
	pkg := d.ParentFile().Package()
	return strings.TrimPrefix(string(d.FullName()), string(pkg)+".")
}

var notAnchor = regexp.MustCompile(`[^a-z0-9 _-]`)

// anchor is the id GitHub gives a heading.
func anchor(heading string) string {
	return strings.ReplaceAll(notAnchor.ReplaceAllString(strings.ToLower(heading), ""), " ", "-")
}

// comment is the leading comment of d, without the space after each "//".
func comment(d protoreflect.Descriptor) string {
	c := d.ParentFile().SourceLocations().ByDescriptor(d).LeadingComments
	lines := strings.Split(strings.TrimRight(c, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(strings.TrimPrefix(l, " "), " ")
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

// block writes a comment as Markdown paragraphs.
func (r *renderer) block(c string) {
	if c != "" {
		r.printf("%s\n\n", c)
	}
}

// cell flattens a comment into one table cell: paragraphs become line breaks.
func cell(c string) string {
	paras := strings.Split(c, "\n\n")
	for i, p := range paras {
		paras[i] = strings.Join(strings.Fields(p), " ")
	}
	return strings.ReplaceAll(strings.Join(paras, "<br><br>"), "|", `\|`)
}
