package server

import (
	"encoding/json"
	"fmt"
	"github.com/kycgw/kycgw/internal/mdtable"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/kycgw/kycgw"
	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"github.com/kycgw/kycgw/providers"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// docs/api.md is what integrators code against. These tests hold its hand-written tables to
// the code: every KycStatus with whether it is terminal, and every ErrorInfo reason this
// package returns with the gRPC code it is returned with and the HTTP status REST answers.

const apiDocPath = "../docs/api.md"

func TestAPIDocStatuses(t *testing.T) {
	for _, p := range checkStatusTable(readAPIDoc(t)) {
		t.Error(p)
	}
}

func TestAPIDocErrors(t *testing.T) {
	reasons := errorReasons(t)
	for _, p := range checkErrorTable(readAPIDoc(t), reasons) {
		t.Error(p)
	}
	// The proto's header is the reference clients generate code from: it lists every reason too.
	proto, err := os.ReadFile("../proto/kyc/v1/kyc.proto")
	if err != nil {
		t.Fatal(err)
	}
	header, _, _ := strings.Cut(string(proto), "\nsyntax")
	bullets := strings.Split(header, "//   - ")
	for _, r := range sortedReasons(reasons) {
		word := regexp.MustCompile(`\b` + r + `\b`)
		listed := func(bullet string) bool {
			_, after, ok := strings.Cut(bullet, "reason ")
			return ok && word.MatchString(after)
		}
		if !slices.ContainsFunc(bullets[1:], listed) {
			t.Errorf("proto/kyc/v1/kyc.proto: the header comment does not list reason %s; add a line for it (gRPC %s)", r, codeNames(reasons[r]))
		}
	}
}

// TestOpenAPIComplete checks the served OpenAPI document: every operation, parameter,
// definition and property of the API is described (from the proto comments), and the error
// responses (from proto/openapi.yaml) name every reason, each under its HTTP status.
func TestOpenAPIComplete(t *testing.T) {
	var doc struct {
		Info  struct{ Title, Version, Description string }
		Paths map[string]map[string]struct {
			Summary, Description string
			Parameters           []struct{ Name, Description, Title string }
			Responses            map[string]struct{ Description string }
		}
		Definitions map[string]struct {
			Title, Description string
			Properties         map[string]struct{ Title, Description string }
		}
		SecurityDefinitions map[string]any
	}
	if err := json.Unmarshal(kycgw.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Info.Title != "kycgw" || doc.Info.Version == "" || doc.Info.Description == "" || len(doc.SecurityDefinitions) == 0 {
		t.Errorf("info %+v, securityDefinitions %v: want title, version, description and the bearer scheme (proto/openapi.yaml)", doc.Info, doc.SecurityDefinitions)
	}
	reasons := errorReasons(t)
	mentioned := map[string]bool{}
	reasonRE := regexp.MustCompile(`\b[A-Z][A-Z_]{3,}\b`)
	for path, ops := range doc.Paths {
		for verb, op := range ops {
			if op.Summary == "" && op.Description == "" {
				t.Errorf("%s %s has no summary: comment the RPC in the proto", verb, path)
			}
			for _, p := range op.Parameters {
				if p.Description == "" && p.Title == "" {
					t.Errorf("%s %s: parameter %s has no description: comment the field in the proto", verb, path, p.Name)
				}
			}
			for code, resp := range op.Responses {
				for _, word := range reasonRE.FindAllString(resp.Description, -1) {
					cs, ok := reasons[word]
					if !ok {
						continue
					}
					mentioned[word] = true
					if !slices.Contains(strings.Split(httpStatuses(word, cs), ", "), code) {
						t.Errorf("%s %s: response %s names %s, which REST answers with %s (proto/openapi.yaml)", verb, path, code, word, httpStatuses(word, cs))
					}
				}
			}
		}
	}
	for _, r := range sortedReasons(reasons) {
		if !mentioned[r] {
			t.Errorf("no OpenAPI response names reason %s: add it to the responses of the RPCs that return it in proto/openapi.yaml (HTTP %s), then make generate", r, httpStatuses(r, reasons[r]))
		}
	}
	for name, def := range doc.Definitions {
		if name == "rpcStatus" || name == "protobufAny" {
			continue // google.rpc's, described in docs/api.md
		}
		if def.Title == "" && def.Description == "" {
			t.Errorf("definition %s has no description: comment the message in the proto", name)
		}
		for prop, p := range def.Properties {
			if p.Title == "" && p.Description == "" {
				t.Errorf("definition %s: property %s has no description: comment the field in the proto", name, prop)
			}
		}
	}
}

// TestAPIDocChecksCatchDrift alters the real tables and wants each change reported, so the
// checks cannot pass by checking nothing.
func TestAPIDocChecksCatchDrift(t *testing.T) {
	doc := string(readAPIDoc(t))
	reasons := errorReasons(t)
	if len(reasons) < 10 || len(reasons[ReasonAlreadyPassed]) != 1 || reasons[ReasonAlreadyPassed][0] != codes.FailedPrecondition {
		t.Fatalf("errorReasons found %v, want every Reason constant with its codes", reasons)
	}
	cases := []struct{ name, old, new, want string }{
		{"missing status", "| `KYC_STATUS_EXPIRED` |", "| `KYC_STATUS_EXPIRD` |", "KycStatus KYC_STATUS_EXPIRED is missing from the status table"},
		{"unknown status", "| `KYC_STATUS_EXPIRED` |", "| `KYC_STATUS_EXPIRD` |", "KYC_STATUS_EXPIRD is not a KycStatus"},
		{"wrong terminal", "| `KYC_STATUS_PENDING` | submitted; nothing decided yet | no |", "| `KYC_STATUS_PENDING` | submitted; nothing decided yet | yes |", "KYC_STATUS_PENDING: terminal column says \"yes\", want no"},
		{"missing reason", "| `SHUTTING_DOWN` |", "| `SHUTTING_DOWNN` |", "reason SHUTTING_DOWN is missing from the error table"},
		{"unknown reason", "| `SHUTTING_DOWN` |", "| `SHUTTING_DOWNN` |", "SHUTTING_DOWNN is not a reason"},
		{"wrong code", "| `KYC_ALREADY_PASSED` | `FAILED_PRECONDITION` |", "| `KYC_ALREADY_PASSED` | `ABORTED` |", "KYC_ALREADY_PASSED: gRPC code column says \"`ABORTED`\", want `FAILED_PRECONDITION`"},
		{"wrong http", "| `IDEMPOTENCY_KEY_REUSED` | `ALREADY_EXISTS` | 422 |", "| `IDEMPOTENCY_KEY_REUSED` | `ALREADY_EXISTS` | 409 |", "IDEMPOTENCY_KEY_REUSED: HTTP column says \"409\", want 422"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(doc, tc.old) {
				t.Fatalf("docs/api.md has no %q to alter", tc.old)
			}
			altered := []byte(strings.Replace(doc, tc.old, tc.new, 1))
			problems := append(checkStatusTable(altered), checkErrorTable(altered, reasons)...)
			if !strings.Contains(strings.Join(problems, "\n"), tc.want) {
				t.Fatalf("problems = %q, want one containing %q", problems, tc.want)
			}
		})
	}
}

func readAPIDoc(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(apiDocPath)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkStatusTable checks the "## Statuses" table: one row per KycStatus but UNSPECIFIED,
// with the terminal column agreeing with providers.Status.Terminal.
func checkStatusTable(doc []byte) []string {
	rows, problems := docTable(doc, "Statuses", "status", 4)
	seen := map[string]bool{}
	for _, r := range rows {
		name := strings.Trim(r.Cells[0], "`")
		seen[name] = true
		n, ok := kycv1.KycStatus_value[name]
		if !ok || n == 0 {
			problems = append(problems, fmt.Sprintf("docs/api.md line %d: %s is not a KycStatus clients receive; remove the row or fix the name", r.Line, name))
			continue
		}
		want := "no"
		if providers.Status(n).Terminal() {
			want = "yes"
		}
		if got := r.Cells[2]; !strings.HasPrefix(got, want) {
			problems = append(problems, fmt.Sprintf("docs/api.md line %d: %s: terminal column says %q, want %s (providers.Status.Terminal)", r.Line, name, got, want))
		}
		if r.Cells[1] == "" || r.Cells[3] == "" {
			problems = append(problems, fmt.Sprintf("docs/api.md line %d: %s: the meaning and next action columns must not be empty", r.Line, name))
		}
	}
	for n := range int32(len(kycv1.KycStatus_name)) {
		name := kycv1.KycStatus(n).String()
		if n > 0 && !seen[name] {
			problems = append(problems, fmt.Sprintf("docs/api.md: KycStatus %s is missing from the status table under \"## Statuses\"; add the row:\n| `%s` | <meaning> | %s | <next action> |", name, name, yesNo(providers.Status(n).Terminal())))
		}
	}
	return problems
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// checkErrorTable checks the "## Errors" table: one row per reason, with every gRPC code the
// reason is returned with and the HTTP status the REST gateway answers for it.
func checkErrorTable(doc []byte, reasons map[string][]codes.Code) []string {
	rows, problems := docTable(doc, "Errors", "reason", 5)
	seen := map[string]bool{}
	for _, r := range rows {
		reason := strings.Trim(r.Cells[0], "`")
		seen[reason] = true
		cs, ok := reasons[reason]
		if !ok {
			problems = append(problems, fmt.Sprintf("docs/api.md line %d: %s is not a reason the server returns (Reason constants in server/errors.go); one reason per row", r.Line, reason))
			continue
		}
		if got, want := r.Cells[1], codeNames(cs); got != want {
			problems = append(problems, fmt.Sprintf("docs/api.md line %d: %s: gRPC code column says %q, want %s", r.Line, reason, got, want))
		}
		if got, want := r.Cells[2], httpStatuses(reason, cs); got != want {
			problems = append(problems, fmt.Sprintf("docs/api.md line %d: %s: HTTP column says %q, want %s", r.Line, reason, got, want))
		}
		if r.Cells[3] == "" || r.Cells[4] == "" {
			problems = append(problems, fmt.Sprintf("docs/api.md line %d: %s: the when and what-to-do columns must not be empty", r.Line, reason))
		}
	}
	for _, reason := range sortedReasons(reasons) {
		if !seen[reason] {
			problems = append(problems, fmt.Sprintf("docs/api.md: reason %s is missing from the error table under \"## Errors\"; add the row:\n| `%s` | %s | %s | <when> | <what the client should do> |",
				reason, reason, codeNames(reasons[reason]), httpStatuses(reason, reasons[reason])))
		}
	}
	return problems
}

// codeNames writes codes as the docs do: "`NOT_FOUND`", comma-separated.
func codeNames(cs []codes.Code) string {
	var out []string
	for _, c := range cs {
		out = append(out, "`"+upperSnake(c.String())+"`")
	}
	return strings.Join(out, ", ")
}

func httpStatuses(reason string, cs []codes.Code) string {
	var out []string
	for _, c := range cs {
		s := strconv.Itoa(httpStatus(status.Convert(apiError(c, reason, "", nil))))
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return strings.Join(out, ", ")
}

// upperSnake turns a codes.Code name ("InvalidArgument") into the canonical one
// ("INVALID_ARGUMENT").
func upperSnake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && unicode.IsUpper(r) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

func sortedReasons(m map[string][]codes.Code) []string {
	out := make([]string, 0, len(m))
	for r := range m {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// errorReasons reads this package's source: every Reason constant, with the gRPC codes of the
// apiError calls that return it. A reason never returned is reported, since its code is
// unknown.
func errorReasons(t *testing.T) map[string][]codes.Code {
	t.Helper()
	byName := map[string]codes.Code{}
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		byName[c.String()] = c
	}
	paths, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	values := map[string]string{} // constant name -> reason
	var calls []*ast.CallExpr
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.ValueSpec:
				for i, id := range n.Names {
					if strings.HasPrefix(id.Name, "Reason") && i < len(n.Values) {
						if lit, ok := n.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							values[id.Name], _ = strconv.Unquote(lit.Value)
						}
					}
				}
			case *ast.CallExpr:
				if id, ok := n.Fun.(*ast.Ident); ok && id.Name == "apiError" && len(n.Args) >= 2 {
					calls = append(calls, n)
				}
			}
			return true
		})
	}
	reasons := map[string][]codes.Code{}
	for _, call := range calls {
		sel, ok1 := call.Args[0].(*ast.SelectorExpr)
		id, ok2 := call.Args[1].(*ast.Ident)
		if !ok1 || !ok2 {
			t.Errorf("%s: apiError must be called with a codes.X constant and a Reason constant, so the docs can be checked", fset.Position(call.Pos()))
			continue
		}
		c, ok := byName[sel.Sel.Name]
		reason, isReason := values[id.Name]
		if !ok || !isReason {
			t.Errorf("%s: apiError(%s, %s): not a codes constant and a Reason constant", fset.Position(call.Pos()), sel.Sel.Name, id.Name)
			continue
		}
		if !slices.Contains(reasons[reason], c) {
			reasons[reason] = append(reasons[reason], c)
			slices.Sort(reasons[reason])
		}
	}
	for name, reason := range values {
		if _, ok := reasons[reason]; !ok {
			t.Errorf("%s (%s) is declared but no apiError call returns it: return it or remove it", name, reason)
		}
	}
	return reasons
}

// docTable returns the rows of the first table under "## section" of docs/api.md whose first
// header cell is first, each with cols cells, and what is malformed.
func docTable(doc []byte, section, first string, cols int) ([]mdtable.Row, []string) {
	return mdtable.Table(doc, "docs/api.md", section, first, cols)
}
