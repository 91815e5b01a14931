package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const gatewayYAML = "../../../proto/gateway.yaml"

func realRules(t *testing.T) map[string]HTTPRule {
	t.Helper()
	b, err := os.ReadFile(gatewayYAML)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := parseHTTPRules(b)
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

// headings are the lines of the reference that name a service, an RPC, a message or an enum,
// and the rows that name a field or an enum value: what must be documented, comments aside.
func headings(fd protoreflect.FileDescriptor) []string {
	var want []string
	for i := range fd.Services().Len() {
		sd := fd.Services().Get(i)
		want = append(want, "#### "+string(sd.Name())+"\n")
		for j := range sd.Methods().Len() {
			want = append(want, "##### "+string(sd.Name())+"."+string(sd.Methods().Get(j).Name())+"\n")
		}
	}
	var msgs []protoreflect.MessageDescriptor
	var enums []protoreflect.EnumDescriptor
	collect(fd.Messages(), fd.Enums(), &msgs, &enums)
	for _, m := range msgs {
		want = append(want, "#### "+localName(m)+"\n")
		for j := range m.Fields().Len() {
			want = append(want, "| `"+string(m.Fields().Get(j).Name())+"` |")
		}
	}
	for _, e := range enums {
		want = append(want, "#### "+localName(e)+"\n")
		for j := range e.Values().Len() {
			want = append(want, "| `"+string(e.Values().Get(j).Name())+"` |")
		}
	}
	return want
}

// TestRenderCoversTheAPI renders the compiled kyc.v1 descriptors (which carry no comments)
// and wants every service, RPC, message, field, enum and value, and the REST mappings.
func TestRenderCoversTheAPI(t *testing.T) {
	fd := kycv1.File_kyc_v1_kyc_proto
	out, err := Render([]protoreflect.FileDescriptor{fd}, realRules(t))
	if err != nil {
		t.Fatal(err)
	}
	ref := string(out)
	want := append(headings(fd),
		"- REST: `POST /v1/verifications:start`; the request is the JSON body",
		"- REST: `GET /v1/verifications/{verification_id}`; the fields in braces come from the path",
		"- gRPC: `/kyc.v1.KycService/StreamEvents`, [StreamEventsRequest](#streameventsrequest) → stream [StreamEventsResponse](#streameventsresponse)",
		"| `statuses` | repeated [KycStatus](#kycstatus) |",
		"| `updated_at` | [`google.protobuf.Timestamp`]",
		"Oneof `kind`: at most one of `customer_id`, `beneficial_owner`, `user_id` is set.",
	)
	for _, w := range want {
		if !strings.Contains(ref, w) {
			t.Errorf("the reference lacks %q", w)
		}
	}
	if len(want) < 80 {
		t.Fatalf("only %d items expected: the descriptor walk is missing parts", len(want))
	}
}

// TestDocsAPIMatchesTheProto checks the committed docs/api.md without buf: every item the
// compiled descriptors have is in its generated part. (make checkgenerate compares it byte for
// byte, comments included.)
func TestDocsAPIMatchesTheProto(t *testing.T) {
	b, err := os.ReadFile("../../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	_, generated, ok := strings.Cut(string(b), Marker)
	if !ok {
		t.Fatalf("docs/api.md has no marker line %q", Marker)
	}
	for _, w := range headings(kycv1.File_kyc_v1_kyc_proto) {
		if !strings.Contains(generated, w) {
			t.Errorf("docs/api.md lacks %q: run make generate", strings.TrimSpace(w))
		}
	}
}

// commented returns the kyc.v1 file set with source comments on a few descriptors, as buf
// would give them.
func commented(t *testing.T) *descriptorpb.FileDescriptorSet {
	t.Helper()
	fdp := protodesc.ToFileDescriptorProto(kycv1.File_kyc_v1_kyc_proto)
	fd := kycv1.File_kyc_v1_kyc_proto
	msgIdx := int32(fd.Messages().ByName("StartRequest").Index())
	enumIdx := int32(fd.Enums().ByName("KycStatus").Index())
	loc := func(c string, path ...int32) *descriptorpb.SourceCodeInfo_Location {
		return &descriptorpb.SourceCodeInfo_Location{Path: path, Span: []int32{0, 0, 0}, LeadingComments: proto.String(c)}
	}
	fdp.SourceCodeInfo = &descriptorpb.SourceCodeInfo{Location: []*descriptorpb.SourceCodeInfo_Location{
		loc(" KycService verifies.\n", 6, 0),
		loc(" Start starts.\n\n Twice | safely.\n", 6, 0, 2, 0),
		loc(" StartRequest starts or continues.\n\n  1. First step,\n     continued.\n", 4, msgIdx),
		loc(" The provider | instance.\n\n Second paragraph.\n", 4, msgIdx, 2, 0),
		loc(" Input only one provider understands.\n", 4, msgIdx, 8, 0),
		loc(" Verified. Final.\n", 5, enumIdx, 2, 8),
	}}
	return &descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{
		protodesc.ToFileDescriptorProto(timestamppb.File_google_protobuf_timestamp_proto), fdp,
	}}
}

func TestRenderComments(t *testing.T) {
	image, err := proto.Marshal(commented(t))
	if err != nil {
		t.Fatal(err)
	}
	files, err := parseImage(image)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].Path() != "kyc/v1/kyc.proto" {
		t.Fatalf("files = %v, want kyc/v1/kyc.proto alone (google/ is only imported)", files)
	}
	out, err := Render(files, realRules(t))
	if err != nil {
		t.Fatal(err)
	}
	ref := string(out)
	for _, w := range []string{
		"#### KycService\n\nKycService verifies.\n\n",
		"##### KycService.Start\n\n- gRPC: `/kyc.v1.KycService/Start`",
		"Start starts.\n\nTwice | safely.\n\n", // a paragraph keeps its text as written
		"#### StartRequest\n\nStartRequest starts or continues.\n\n 1. First step,\n    continued.\n\n",
		"| `provider` | `string` | The provider \\| instance.<br><br>Second paragraph. |", // a cell is one line
		"Oneof `provider_input`: `cloudpayments` or nothing. Input only one provider understands.\n",
		"| `KYC_STATUS_PASSED` | 8 | Verified. Final. |",
	} {
		if !strings.Contains(ref, w) {
			t.Errorf("the reference lacks %q", w)
		}
	}
}

func TestRulesMustMatchTheAPI(t *testing.T) {
	fd := []protoreflect.FileDescriptor{kycv1.File_kyc_v1_kyc_proto}
	rules := realRules(t)
	rules["kyc.v1.KycService.Cancel"] = HTTPRule{Selector: "kyc.v1.KycService.Cancel", Post: "/v1/cancel"}
	if _, err := Render(fd, rules); err == nil || !strings.Contains(err.Error(), "kyc.v1.KycService.Cancel") {
		t.Fatalf("a rule for a missing RPC: err = %v, want it named", err)
	}
	for name, y := range map[string]string{
		"no verb":   "http:\n  rules:\n    - selector: kyc.v1.KycService.Start\n      body: \"*\"\n",
		"duplicate": "http:\n  rules:\n    - selector: a.B.C\n      get: /x\n    - selector: a.B.C\n      get: /y\n",
	} {
		if _, err := parseHTTPRules([]byte(y)); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
	noRule := realRules(t)
	delete(noRule, "kyc.v1.KycService.GetStatus")
	out, err := Render(fd, noRule)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "##### KycService.GetStatus\n\n- gRPC: `/kyc.v1.KycService/GetStatus`, [GetStatusRequest](#getstatusrequest) → [GetStatusResponse](#getstatusresponse)\n- REST: none (gRPC only)\n") {
		t.Errorf("an RPC without a rule is not shown as gRPC only:\n%s", out)
	}
}

func TestSplice(t *testing.T) {
	head := "# API\n\nHand-written.\n\n" + Marker
	got, err := Splice([]byte(head+"\n\nold reference\n"), []byte("\nnew reference\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := head + "\n\nnew reference\n"; string(got) != want {
		t.Fatalf("Splice = %q, want %q", got, want)
	}
	again, err := Splice(got, []byte("new reference\n"))
	if err != nil || !bytes.Equal(again, got) {
		t.Fatalf("Splice is not stable: %q, %v", again, err)
	}
	if _, err := Splice([]byte("# API\n\nno marker\n"), []byte("ref")); err == nil {
		t.Fatal("a file without the marker was accepted")
	}
}

// TestRun is `make generate`'s step: a descriptor set on standard input, the output file's
// hand-written part kept, the rest replaced.
func TestRun(t *testing.T) {
	image, err := proto.Marshal(commented(t))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "api.md")
	head := "# API\n\nStatuses and errors, by hand.\n\n" + Marker
	if err := os.WriteFile(out, []byte(head+"\n\nstale\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(bytes.NewReader(image), gatewayYAML, out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), head+"\n\n## Reference: `kyc/v1/kyc.proto`\n") || strings.Contains(string(b), "stale") {
		t.Fatalf("api.md after run:\n%s", b)
	}
	if err := run(bytes.NewReader(nil), gatewayYAML, out); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty input: err = %v, want a message saying so", err)
	}
}
