package server

// Fuzz targets for the code that parses outside input (STYLE §11): Start validation, stored
// idempotency outcomes, event cursors and the REST decoding path. Seeds are in
// testdata/fuzz/<FuzzName>; run one with
//
//	go test -run='^$' -fuzz=FuzzValidateStart -fuzztime=60s ./server/

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"github.com/kycgw/kycgw/internal/store"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// startFieldPaths are the only field paths validateStart may name.
var startFieldPaths = map[string]bool{
	"provider":                             true,
	"program_id":                           true,
	"subject":                              true,
	"subject.customer_id":                  true,
	"subject.user_id":                      true,
	"subject.beneficial_owner.business_id": true,
	"subject.beneficial_owner.beneficial_owner_id": true,
	"applicant.ssn":                true,
	"applicant.phone":              true,
	"applicant.phone_country_code": true,
	"applicant.email":              true,
	"applicant.ip":                 true,
	"cloudpayments.access_token":   true,
	"cloudpayments.refresh_token":  true,
	"cloudpayments.device_id":      true,
	"cloudpayments.account_id":     true,
	"cloudpayments.workflow_id":    true,
	"idempotency_key":              true,
}

// fuzzStartRequest builds a StartRequest from fuzzed parts. kind selects the subject form:
// 0 none, 1 customer_id, 2 user_id, 3 beneficial_owner, 4 a Subject with no kind set.
func fuzzStartRequest(provider, programID string, kind uint8, id1, id2, ssn, phone, cc, email, ip, key string,
	withCP bool, access, refresh, device, account, workflow string) *kycv1.StartRequest {
	req := &kycv1.StartRequest{
		Provider: provider, ProgramId: programID, IdempotencyKey: key,
		Applicant: &kycv1.Applicant{Ssn: ssn, Phone: phone, PhoneCountryCode: cc, Email: email, Ip: ip},
	}
	switch kind % 5 {
	case 1:
		req.Subject = &kycv1.Subject{Kind: &kycv1.Subject_CustomerId{CustomerId: id1}}
	case 2:
		req.Subject = &kycv1.Subject{Kind: &kycv1.Subject_UserId{UserId: id1}}
	case 3:
		req.Subject = &kycv1.Subject{Kind: &kycv1.Subject_BeneficialOwner{BeneficialOwner: &kycv1.BeneficialOwner{
			BusinessId: id1, BeneficialOwnerId: id2,
		}}}
	case 4:
		req.Subject = &kycv1.Subject{}
	}
	if withCP {
		req.ProviderInput = &kycv1.StartRequest_Cloudpayments{Cloudpayments: &kycv1.CloudPaymentsInput{
			AccessToken: access, RefreshToken: refresh, DeviceId: device, AccountId: account, WorkflowId: workflow,
		}}
	}
	return req
}

// The oracles below restate the documented formats by hand, independently of the matchers
// (they share only match.go's isDigit).

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// oracleSSN: "#########" or "###-##-####".
func oracleSSN(s string) bool {
	switch len(s) {
	case 9:
		return allDigits(s)
	case 11:
		return s[3] == '-' && s[6] == '-' && allDigits(s[:3]) && allDigits(s[4:6]) && allDigits(s[7:])
	}
	return false
}

// oraclePhone: digits, or groups of digits joined by single dashes; at most 32 bytes.
func oraclePhone(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, group := range strings.Split(s, "-") {
		if group == "" || !allDigits(group) {
			return false
		}
	}
	return true
}

// oracleCountryCode: 1 to 3 digits.
func oracleCountryCode(s string) bool { return len(s) >= 1 && len(s) <= 3 && allDigits(s) }

// oracleIPv4: four decimal octets 0-255 in dot-decimal form, without leading zeros.
func oracleIPv4(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 3 || !allDigits(p) || (len(p) > 1 && p[0] == '0') {
			return false
		}
		n := 0
		for i := 0; i < len(p); i++ {
			n = n*10 + int(p[i]-'0')
		}
		if n > 255 {
			return false
		}
	}
	return true
}

// oracleSimpleEmail accepts a conservative subset of addresses that are certainly valid:
// dot-separated atoms of letters and digits, "@", and a domain of dot-separated labels of
// letters, digits and inner hyphens.
func oracleSimpleEmail(s string) bool {
	if len(s) > maxEmail {
		return false
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok {
		return false
	}
	alnum := func(c byte) bool { return isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'z') }
	for _, atom := range strings.Split(local, ".") {
		if atom == "" {
			return false
		}
		for i := 0; i < len(atom); i++ {
			if !alnum(atom[i]) {
				return false
			}
		}
	}
	for _, label := range strings.Split(domain, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if !alnum(label[i]) && label[i] != '-' {
				return false
			}
		}
	}
	return true
}

// oracleUUID: 8-4-4-4-12 hexadecimal digits.
func oracleUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isDigit(c) && (c|0x20 < 'a' || c|0x20 > 'f') {
				return false
			}
		}
	}
	return true
}

// oracleSubjectID: 1 to 128 letters, digits or . _ : -
func oracleSubjectID(s string) bool {
	if len(s) < 1 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isDigit(c) && (c|0x20 < 'a' || c|0x20 > 'z') && !strings.ContainsRune("._:-", rune(c)) {
			return false
		}
	}
	return true
}

// oracleOpaque: optional, at most max printable ASCII bytes without spaces.
func oracleOpaque(s string, max int) bool {
	if len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// oracleIdempotencyKey: at most 255 printable ASCII characters without spaces.
func oracleIdempotencyKey(s string) bool {
	if len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

func FuzzValidateStart(f *testing.F) {
	f.Fuzz(func(t *testing.T, provider, programID string, kind uint8, id1, id2, ssn, phone, cc, email, ip, key string,
		withCP bool, access, refresh, device, account, workflow string) {
		req := fuzzStartRequest(provider, programID, kind, id1, id2, ssn, phone, cc, email, ip, key,
			withCP, access, refresh, device, account, workflow)
		vs := validateStart(req)

		byField := map[string]string{}
		for _, v := range vs {
			if !startFieldPaths[v.field] {
				t.Errorf("violation names unknown field %q (reason %q)", v.field, v.reason)
			}
			if _, dup := byField[v.field]; dup {
				t.Errorf("field %q reported twice", v.field)
			}
			if v.reason == "" {
				t.Errorf("field %q: empty reason", v.field)
			}
			byField[v.field] = v.reason
		}

		// Each applicant field is flagged exactly when the hand-written oracle says it is
		// malformed. Empty means "not given" and is never flagged here.
		checkOracle := func(field, value string, valid bool) {
			t.Helper()
			_, flagged := byField[field]
			switch {
			case value == "" && flagged:
				t.Errorf("%s: empty value flagged: %q", field, byField[field])
			case value != "" && valid && flagged:
				t.Errorf("%s: well-formed value %q refused: %q", field, value, byField[field])
			case value != "" && !valid && !flagged:
				t.Errorf("%s: malformed value %q accepted", field, value)
			}
		}
		checkOracle("applicant.ssn", ssn, oracleSSN(ssn))
		checkOracle("applicant.phone", phone, oraclePhone(phone))
		checkOracle("applicant.phone_country_code", cc, oracleCountryCode(cc))
		checkOracle("applicant.ip", ip, oracleIPv4(ip))
		checkOracle("idempotency_key", key, oracleIdempotencyKey(key))
		if oracleSimpleEmail(email) {
			checkOracle("applicant.email", email, true)
		}
		flags := func(field string, want bool) {
			t.Helper()
			if _, flagged := byField[field]; flagged != want {
				t.Errorf("%s: flagged=%v, want %v (%q)", field, flagged, want, byField[field])
			}
		}
		flags("provider", provider == "")
		flags("program_id", !oracleUUID(programID))
		switch kind % 5 {
		case 0, 4:
			flags("subject", true)
		case 1:
			flags("subject.customer_id", !oracleSubjectID(id1))
		case 2:
			flags("subject.user_id", !oracleSubjectID(id1))
		case 3:
			flags("subject.beneficial_owner.business_id", !oracleSubjectID(id1))
			flags("subject.beneficial_owner.beneficial_owner_id", !oracleSubjectID(id2))
		}
		for _, o := range []struct {
			field, v string
			max      int
		}{
			{"access_token", access, 8 << 10}, {"refresh_token", refresh, 8 << 10},
			{"device_id", device, 256}, {"account_id", account, 256}, {"workflow_id", workflow, 256},
		} {
			flags("cloudpayments."+o.field, withCP && !oracleOpaque(o.v, o.max))
		}

		// PII is never echoed: the error the client sees is the same whatever the rejected
		// values were. Replace each flagged applicant value with another malformed one and each
		// accepted one with "", and the status (message and details) must not change.
		err := invalidFields(vs...)
		if len(vs) == 0 {
			return
		}
		san := proto.CloneOf(req)
		a := san.GetApplicant()
		pii := []struct {
			field string
			ptr   *string
		}{
			{"applicant.ssn", &a.Ssn}, {"applicant.phone", &a.Phone},
			{"applicant.phone_country_code", &a.PhoneCountryCode},
			{"applicant.email", &a.Email}, {"applicant.ip", &a.Ip},
		}
		for _, p := range pii {
			if _, flagged := byField[p.field]; flagged {
				*p.ptr = "\x00"
			} else {
				*p.ptr = ""
			}
		}
		sanErr := invalidFields(validateStart(san)...)
		got, want := status.Convert(err).Proto(), status.Convert(sanErr).Proto()
		if !proto.Equal(got, want) {
			t.Fatalf("error depends on the applicant's values:\n got  %v\n want %v", got, want)
		}
		msg := got.GetMessage()
		for _, d := range status.Convert(err).Details() {
			if br, ok := d.(*errdetails.BadRequest); ok {
				for _, fv := range br.GetFieldViolations() {
					msg += "\n" + fv.GetDescription()
				}
			}
		}
		for _, v := range []string{ssn, phone, email, ip} {
			// A value that is also part of the fixed wording ("must be") is not an echo.
			if len(v) >= 4 && strings.Contains(msg, v) && !strings.Contains(want.GetMessage(), v) {
				t.Errorf("error echoes applicant value %q: %s", v, msg)
			}
		}
	})
}

func FuzzDecodeOutcome(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw []byte, code uint32, msg, reason, vid, token string, st int32, attempt int32, secs int64, replayed bool) {
		// Arbitrary bytes: no panic, and exactly one of response, RPC error or corruption.
		resp, rpcErr, err := decodeOutcome(raw)
		n := 0
		for _, set := range []bool{resp != nil, rpcErr != nil, err != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("decodeOutcome(%q) = %v, %v, %v: want exactly one", raw, resp, rpcErr, err)
		}
		if err != nil && !errors.Is(err, errBadOutcome) {
			t.Fatalf("decodeOutcome error %v is not errBadOutcome", err)
		}
		if resp != nil && !resp.GetReplayed() {
			t.Fatalf("decoded response not marked replayed: %v", resp)
		}
		if rpcErr != nil {
			if _, ok := status.FromError(rpcErr); !ok {
				t.Fatalf("decoded error %v is not a status", rpcErr)
			}
		}

		// Round trip of a response.
		want := &kycv1.StartResponse{
			Replayed: replayed,
			Verification: &kycv1.Verification{
				VerificationId: vid, Provider: reason, ProgramId: msg,
				Subject: &kycv1.Subject{Kind: &kycv1.Subject_CustomerId{CustomerId: vid}},
				Status:  kycv1.KycStatus(st), ProviderStatus: reason, Attempt: attempt,
				UpdatedAt: &timestamppb.Timestamp{Seconds: secs, Nanos: attempt},
				NextAction: &kycv1.NextAction{Action: &kycv1.NextAction_RunProviderSdk{
					RunProviderSdk: &kycv1.RunProviderSdk{Token: token, Vendor: "JUMIO"},
				}},
				Checks: []*kycv1.CheckResult{{Name: reason, Result: msg}},
				Reason: &kycv1.Reason{Code: reason, Description: msg},
			},
		}
		validUTF8 := utf8.ValidString(msg) && utf8.ValidString(reason) && utf8.ValidString(vid) && utf8.ValidString(token)
		b, err := encodeOutcome(want, nil)
		switch {
		case err != nil && validUTF8:
			t.Fatalf("encodeOutcome(response): %v", err)
		case err == nil && !validUTF8:
			t.Fatalf("encodeOutcome(response) accepted invalid UTF-8")
		case err == nil:
			got, gotErr, err := decodeOutcome(b)
			if err != nil || gotErr != nil {
				t.Fatalf("decodeOutcome(encodeOutcome(response)) = _, %v, %v", gotErr, err)
			}
			want.Replayed = true
			if !proto.Equal(got, want) {
				t.Fatalf("response round trip:\n got  %v\n want %v", got, want)
			}
		}

		// Round trip of an RPC error, with the details the gateway attaches.
		c := codes.Code(code%16 + 1) // never OK: an OK status is no error
		sent := apiError(c, reason, msg, map[string]string{"k": vid},
			&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: vid, Description: reason}}})
		b, err = encodeOutcome(nil, sent)
		switch {
		case err != nil && validUTF8:
			t.Fatalf("encodeOutcome(error): %v", err)
		case err == nil:
			got, gotErr, err := decodeOutcome(b)
			if err != nil || got != nil {
				t.Fatalf("decodeOutcome(encodeOutcome(error)) = %v, _, %v", got, err)
			}
			if !proto.Equal(status.Convert(gotErr).Proto(), status.Convert(sent).Proto()) {
				t.Fatalf("error round trip:\n got  %v\n want %v", status.Convert(gotErr).Proto(), status.Convert(sent).Proto())
			}
		}
	})
}

// canonicalCursor is how a cursor that parses must format: decimal components without
// leading zeros, and the zero id as "0".
func canonicalCursor(s string) string {
	if s == "0" {
		return "0"
	}
	ms, seq, _ := strings.Cut(s, "-")
	trim := func(d string) string {
		if d = strings.TrimLeft(d, "0"); d == "" {
			return "0"
		}
		return d
	}
	ms, seq = trim(ms), trim(seq)
	if ms == "0" && seq == "0" {
		return "0"
	}
	return ms + "-" + seq
}

func FuzzEventCursor(f *testing.F) {
	f.Fuzz(func(t *testing.T, a, b, c string) {
		var ids []store.EventID
		for _, s := range []string{a, b, c} {
			id, err := store.ParseEventID(s)
			if err != nil {
				if !errors.Is(err, store.ErrBadCursor) {
					t.Fatalf("ParseEventID(%q): error %v does not wrap ErrBadCursor", s, err)
				}
				if id != (store.EventID{}) {
					t.Fatalf("ParseEventID(%q) failed but returned %v", s, id)
				}
				continue
			}
			// String is canonical: it re-parses to the same id and formats to itself.
			str := id.String()
			again, err := store.ParseEventID(str)
			if err != nil || again != id {
				t.Fatalf("ParseEventID(%q) = %v; ParseEventID(%q) = %v, %v", s, id, str, again, err)
			}
			if again.String() != str {
				t.Fatalf("String not stable: %q then %q", str, again.String())
			}
			if want := canonicalCursor(s); str != want {
				t.Fatalf("ParseEventID(%q).String() = %q, want %q", s, str, want)
			}
			ids = append(ids, id)
		}
		// Less is a strict weak order (here a strict total order on (MS, Seq)).
		less := func(x, y store.EventID) bool { return x.MS < y.MS || (x.MS == y.MS && x.Seq < y.Seq) }
		for _, x := range ids {
			if x.Less(x) {
				t.Fatalf("%v < itself", x)
			}
			for _, y := range ids {
				if x.Less(y) != less(x, y) {
					t.Fatalf("%v.Less(%v) = %v", x, y, x.Less(y))
				}
				if x.Less(y) && y.Less(x) {
					t.Fatalf("%v and %v both less than the other", x, y)
				}
				if !x.Less(y) && !y.Less(x) && x != y {
					t.Fatalf("%v and %v incomparable but different", x, y)
				}
				for _, z := range ids {
					if x.Less(y) && y.Less(z) && !x.Less(z) {
						t.Fatalf("not transitive: %v < %v < %v", x, y, z)
					}
				}
			}
		}
	})
}

// recordingKyc is the minimal KycService behind the REST fuzz target: it records the decoded
// request and answers as the service's front does (idempotency key, then syntax validation).
type recordingKyc struct {
	kycv1.UnimplementedKycServiceServer
	got *kycv1.StartRequest
}

func (r *recordingKyc) Start(ctx context.Context, req *kycv1.StartRequest) (*kycv1.StartResponse, error) {
	r.got = proto.CloneOf(req)
	if _, err := idempotencyKeyOf(ctx, req); err != nil {
		return nil, err
	}
	if vs := validateStart(req); len(vs) > 0 {
		return nil, invalidFields(vs...)
	}
	return &kycv1.StartResponse{Verification: &kycv1.Verification{
		VerificationId: "vrf_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		Provider:       req.GetProvider(), ProgramId: req.GetProgramId(), Subject: req.GetSubject(),
		Status: kycv1.KycStatus_KYC_STATUS_PENDING, Attempt: 1,
	}}, nil
}

// knownJSONFields are the JSON names protojson accepts for each message of a Start body.
var knownJSONFields = map[string]map[string]string{ // message -> name -> nested message or ""
	"StartRequest": {
		"provider": "", "program_id": "", "programId": "", "subject": "Subject", "applicant": "Applicant",
		"retry": "", "idempotency_key": "", "idempotencyKey": "", "cloudpayments": "CloudPaymentsInput",
	},
	"Subject": {
		"customer_id": "", "customerId": "", "user_id": "", "userId": "",
		"beneficial_owner": "BeneficialOwner", "beneficialOwner": "BeneficialOwner",
	},
	"BeneficialOwner": {
		"business_id": "", "businessId": "", "beneficial_owner_id": "", "beneficialOwnerId": "",
	},
	"Applicant": {
		"ssn": "", "phone": "", "phone_country_code": "", "phoneCountryCode": "", "email": "", "ip": "",
	},
	"CloudPaymentsInput": {
		"access_token": "", "accessToken": "", "refresh_token": "", "refreshToken": "",
		"device_id": "", "deviceId": "", "account_id": "", "accountId": "", "workflow_id": "", "workflowId": "",
	},
}

// unknownJSONField returns the path of a field the body names that StartRequest has not, as
// far as encoding/json can read the body.
func unknownJSONField(msg string, raw json.RawMessage) (string, bool) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return "", false
	}
	for name, v := range obj {
		nested, ok := knownJSONFields[msg][name]
		if !ok {
			return name, true
		}
		if nested != "" {
			if path, ok := unknownJSONField(nested, v); ok {
				return name + "." + path, true
			}
		}
	}
	return "", false
}

// validHeaderValue reports whether v can travel as an HTTP header value unchanged.
func validHeaderValue(v string) bool {
	if v == "" || v[0] == ' ' || v[0] == '\t' || v[len(v)-1] == ' ' || v[len(v)-1] == '\t' {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

var linePos = regexp.MustCompile(`[0-9]+:[0-9]+`)

// applicantValues returns the text of every applicant value in a JSON body, whatever its
// JSON type: a string's contents, or another value's JSON text.
func applicantValues(body []byte) []string {
	var req map[string]json.RawMessage
	if json.Unmarshal(body, &req) != nil {
		return nil
	}
	var a map[string]json.RawMessage
	if json.Unmarshal(req["applicant"], &a) != nil {
		return nil
	}
	var vals []string
	for _, raw := range a {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			vals = append(vals, s)
		} else {
			vals = append(vals, string(raw))
		}
	}
	return vals
}

// fuzzMaxBody is the REST body limit under fuzzing, small so that inputs cross it.
const fuzzMaxBody = 4 << 10

func FuzzRESTStart(f *testing.F) {
	rec := &recordingKyc{}
	gw := newGatewayMux()
	if err := kycv1.RegisterKycServiceHandlerServer(context.Background(), gw, rec); err != nil {
		f.Fatal(err)
	}
	srv := &Server{cfg: Config{MaxBodyBytes: fuzzMaxBody}}
	h := srv.limitBody(gw)

	f.Fuzz(func(t *testing.T, body []byte, idemHeader string, unknownLength bool) {
		rec.got = nil
		req := httptest.NewRequest(http.MethodPost, "/v1/verifications:start", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if validHeaderValue(idemHeader) {
			req.Header.Set("Idempotency-Key", idemHeader)
		} else {
			idemHeader = ""
		}
		if unknownLength {
			req.ContentLength = -1 // as a chunked upload: limitBody must cap it while reading
		}
		ctx, cancel := context.WithTimeout(req.Context(), 10*time.Second)
		defer cancel()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req.WithContext(ctx))
		res := w.Result()
		out, _ := io.ReadAll(res.Body)

		if res.StatusCode != http.StatusOK && (res.StatusCode < 400 || res.StatusCode > 499) {
			t.Fatalf("status %d for body %q: %s", res.StatusCode, body, out)
		}
		if ct, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type")); ct != "application/json" {
			t.Fatalf("status %d: Content-Type %q", res.StatusCode, res.Header.Get("Content-Type"))
		}
		if !unknownLength && len(body) > fuzzMaxBody && res.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("%d-byte body: status %d, want 413", len(body), res.StatusCode)
		}

		if res.StatusCode != http.StatusOK {
			var e map[string]json.RawMessage
			if err := json.Unmarshal(out, &e); err != nil {
				t.Fatalf("status %d: error body is not a JSON object: %v: %s", res.StatusCode, err, out)
			}
			var code float64
			var msg string
			if err := json.Unmarshal(e["code"], &code); err != nil || code == 0 {
				t.Fatalf("status %d: error body without a numeric code: %s", res.StatusCode, out)
			}
			if err := json.Unmarshal(e["message"], &msg); err != nil || msg == "" {
				t.Fatalf("status %d: error body without a message: %s", res.StatusCode, out)
			}
		}

		// An Idempotency-Key header the API cannot use is refused, as in the body.
		if idemHeader != "" && !oracleIdempotencyKey(idemHeader) && res.StatusCode != http.StatusBadRequest &&
			len(body) <= fuzzMaxBody {
			t.Fatalf("Idempotency-Key %q: status %d, want 400: %s", idemHeader, res.StatusCode, out)
		}

		// Applicant values are personal data: no error quotes them. Only values with a digit or
		// an "@" are checked (the fixed wording has neither, once positions are removed).
		if res.StatusCode != http.StatusOK {
			var e struct{ Message string }
			_ = json.Unmarshal(out, &e)
			msg := strings.ReplaceAll(linePos.ReplaceAllString(e.Message, ""), "UTF-8", "")
			for _, v := range applicantValues(body) {
				if len(v) >= 4 && strings.ContainsAny(v, "0123456789@") && strings.Contains(msg, v) {
					t.Fatalf("error quotes applicant value %q: %s", v, out)
				}
			}
		}

		if path, ok := unknownJSONField("StartRequest", body); ok && len(body) <= fuzzMaxBody && res.StatusCode != http.StatusBadRequest {
			t.Fatalf("unknown field %q: status %d, want 400: %s", path, res.StatusCode, out)
		}

		if res.StatusCode == http.StatusOK {
			if rec.got == nil {
				t.Fatal("200 without a call to Start")
			}
			b, err := protojson.Marshal(rec.got)
			if err != nil {
				t.Fatalf("recorded request does not re-marshal: %v", err)
			}
			var again kycv1.StartRequest
			if err := protojson.Unmarshal(b, &again); err != nil || !proto.Equal(&again, rec.got) {
				t.Fatalf("recorded request does not round-trip through protojson: %v\n %v\n %v", err, rec.got, &again)
			}
			var resp kycv1.StartResponse
			if err := protojson.Unmarshal(out, &resp); err != nil {
				t.Fatalf("200 body is not a StartResponse: %v: %s", err, out)
			}
		}

		// Differential: a body protojson reads strictly on its own, within the limit and with a
		// usable (or no) Idempotency-Key header, is decoded by the gateway to the same request.
		var direct kycv1.StartRequest
		if len(body) <= fuzzMaxBody && (idemHeader == "" || oracleIdempotencyKey(idemHeader)) && protojson.Unmarshal(body, &direct) == nil {
			if rec.got == nil {
				t.Fatalf("well-formed body %q never reached Start (status %d: %s)", body, res.StatusCode, out)
			}
			if !proto.Equal(rec.got, &direct) {
				t.Fatalf("gateway decoded %q as %v, protojson as %v", body, rec.got, &direct)
			}
			if idemHeader == "" && (len(validateStart(&direct)) == 0) != (res.StatusCode == http.StatusOK) {
				t.Fatalf("body %q: status %d, validation %v", body, res.StatusCode, validateStart(&direct))
			}
		}
	})
}
