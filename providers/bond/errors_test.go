package bond

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kycgw/kycgw/providers"
)

func TestParseError(t *testing.T) {
	passed := time.Date(2021, 10, 20, 10, 27, 20, 154286000, time.UTC)
	for _, tc := range []struct {
		name      string
		status    int
		body      string
		wantClass errorClass
		wantField string // for classField
		wantIs    error  // sentinel of domainError(), when not a field/passed/in-progress
		passedAt  time.Time
	}{
		{"capitalised envelope, field map (published document 001 as JSON)", 400,
			`{"Message": {"ssn": ["Missing data for required field."]}, "Status": 400, "Code": "kyc_post_schema", "Type": "Request Error"}`,
			classField, "applicant.ssn", nil, time.Time{}},
		{"create_kyc_schema", 400,
			`{"Message": {"phone_country_code": ["Invalid."]}, "Status": 400, "Code": "create_kyc_schema", "Type": "Request Error"}`,
			classField, "applicant.phone_country_code", nil, time.Time{}},
		{"bare field map", 400, `{"email": ["Not a valid email address."]}`, classField, "applicant.email", nil, time.Time{}},
		{"bare field map, program", 400, `{"program_id": ["Not a valid UUID."]}`, classField, "program_id", nil, time.Time{}},
		{"unknown field is our bug", 400, `{"Message": {"kyc_retry_request": ["Unknown field."]}, "Status": 400, "Code": "kyc_post_schema", "Type": "Request Error"}`,
			classRejected, "", providers.ErrRejected, time.Time{}},
		{"bare map with nested unknown field", 400, `{"dob": ["Missing data for required field."], "names": {"first": ["x"]}}`,
			classRejected, "", providers.ErrRejected, time.Time{}},
		{"invalid_program", 400, `{"Message": "Program is not valid", "Status": 400, "Code": "invalid_program", "Type": "Request Error"}`,
			classField, "program_id", nil, time.Time{}},
		{"400 not JSON", 400, `<html>bad</html>`, classMalformed, "", providers.ErrMalformed, time.Time{}},
		{"lower-case envelope (published document 001, trailing comma)", 409,
			"{\n       \"type\": \"RESOURCE_CONFLICT\",\n       \"code\": \"idempotency_key_exists\",\n       \"message\": \"A request was made with this idempotency key in the past 24 hours\",\n}",
			classInProgress, "", nil, time.Time{}},
		{"already initialized", 409, `{"Message": "KYC already initialized for this customer", "Status": 409, "Code": "kyc_init_fail", "Type": "Request Error"}`,
			classInProgress, "", nil, time.Time{}},
		{"bare 409", 409, ``, classInProgress, "", nil, time.Time{}},
		{"already passed", 409, `{"Message": "KYC already passed for this customer at 2021-10-20T10:27:20.154286+00:00", "Status": 409, "Code": "kyc_reinit_fail", "Type": "Request Error"}`,
			classAlreadyPassed, "", nil, passed},
		{"already passed, other code, dash time", 400, `{"message": "Customer already passed KYC at 2021-10-20-10:27:20.154286+00:00", "code": "resource_conflict"}`,
			classAlreadyPassed, "", nil, passed},
		{"already passed, no time", 409, `{"Message": "KYC already passed", "Status": 409, "Code": "kyc_reinit_fail", "Type": "Request Error"}`,
			classAlreadyPassed, "", nil, time.Time{}},
		{"kyc_dne", 404, `{"Message": "KYC result could not be found", "Status": 404, "Code": "kyc_dne", "Type": "Request Error"}`,
			classNoKYC, "", nil, time.Time{}},
		{"customer_dne", 404, `{"Message": "Customer does not exist.", "Status": 404, "Code": "customer_dne", "Type": "Request Error"}`,
			classNotFound, "", providers.ErrSubjectNotFound, time.Time{}},
		{"business_dne", 404, `{"Message": "x", "Status": 404, "Code": "business_dne", "Type": "Request Error"}`,
			classNotFound, "", providers.ErrSubjectNotFound, time.Time{}},
		{"customer_invalid_uuid4", 404, `{"Message": "x", "Status": 404, "Code": "customer_invalid_uuid4", "Type": "Request Error"}`,
			classNotFound, "", providers.ErrSubjectNotFound, time.Time{}},
		{"Flask 404", 404, `{"message": "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again."}`,
			classRejected, "", providers.ErrRejected, time.Time{}},
		{"auth", 401, `{"Message": "Invalid credentials", "Status": 401, "Code": "auth_err", "Type": "Request Error"}`,
			classRejected, "", providers.ErrRejected, time.Time{}},
		{"403", 403, ``, classRejected, "", providers.ErrRejected, time.Time{}},
		{"424", 424, `{"Message": "x", "Status": 424, "Code": "resource_conflict", "Type": "Process Error"}`, classRejected, "", providers.ErrRejected, time.Time{}},
		{"429", 429, ``, classUnavailable, "", providers.ErrUnavailable, time.Time{}},
		{"500 envelope", 500, `{"Message": "x", "Status": 500, "Code": "kyc_error", "Type": "Server Error"}`, classUnavailable, "", providers.ErrUnavailable, time.Time{}},
		{"503 html", 503, `<html>Service Unavailable</html>`, classUnavailable, "", providers.ErrUnavailable, time.Time{}},
		{"504", 504, ``, classUnavailable, "", providers.ErrUnavailable, time.Time{}},
		{"302", 302, ``, classRejected, "", providers.ErrRejected, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := parseError("bond", tc.status, []byte(tc.body), nil)
			if e.class != tc.wantClass {
				t.Fatalf("class: got %d, want %d (%v)", e.class, tc.wantClass, e)
			}
			err := e.domainError()
			switch tc.wantClass {
			case classField:
				var fe *providers.FieldError
				if !errors.As(err, &fe) || fe.Field != tc.wantField || fe.Reason == "" {
					t.Errorf("got %v, want FieldError on %s", err, tc.wantField)
				}
			case classAlreadyPassed:
				var ap *providers.AlreadyPassedError
				if !errors.As(err, &ap) || !ap.PassedAt.Equal(tc.passedAt) || !errors.Is(err, providers.ErrAlreadyPassed) {
					t.Errorf("got %v, want AlreadyPassedError at %v", err, tc.passedAt)
				}
			case classInProgress, classNoKYC:
				if !errors.Is(err, providers.ErrRejected) {
					t.Errorf("outside Start/Status: got %v, want ErrRejected", err)
				}
			default:
				if !errors.Is(err, tc.wantIs) {
					t.Errorf("got %v, want %v", err, tc.wantIs)
				}
			}
		})
	}
}

func TestScrubberKeepsPIIOut(t *testing.T) {
	a := providers.Applicant{SSN: "123-45-6789", Phone: "555-111-2222", PhoneCountryCode: "1", Email: "nick@example.com", IP: "192.168.1.139"}
	body := `{"Message": {"ssn": ["123-45-6789 (123456789) is not valid for nick@example.com from 192.168.1.139, phone 5551112222"]}, "Status": 400, "Code": "kyc_post_schema", "Type": "Request Error"}`
	err := parseError("bond", 400, []byte(body), scrubber(a)).domainError()
	for _, v := range []string{"123-45-6789", "123456789", "nick@example.com", "192.168.1.139", "5551112222"} {
		if strings.Contains(err.Error(), v) {
			t.Errorf("error %q contains %q", err, v)
		}
	}
}

func TestRepairJSON(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"a":[1,2,],}`, `{"a":[1,2]}`},
		{"{\"a\": \"x\"\n \"b\": 1}", "{\"a\": \"x\"\n ,\"b\": 1}"},
		{"[\\\n\"a\",\\\n\"b\"\\\n]", "[\n\"a\",\n\"b\"\n]"},
		{`{"s":"a,}b\",]"}`, ``}, // valid: nothing to repair
		{`{"a":{"b":1},}`, `{"a":{"b":1}}`},
	} {
		got, changed := repairJSON([]byte(tc.in))
		if tc.want == "" {
			if changed {
				t.Errorf("repairJSON(%q) changed valid JSON to %q", tc.in, got)
			}
			continue
		}
		if string(got) != tc.want {
			t.Errorf("repairJSON(%q): got %q, want %q", tc.in, got, tc.want)
		}
	}
}
