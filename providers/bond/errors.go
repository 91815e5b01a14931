package bond

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/kycgw/kycgw/providers"
)

var errUnexpectedReasons = errors.New("reasons is neither an object nor a string")

// APIError is a non-2xx answer from the provider. It unwraps to the providers sentinel it was
// classified as (ErrRejected, ErrUnavailable, ErrSubjectNotFound or ErrMalformed), so callers
// switch with errors.Is and may still read the provider's code with errors.As.
type APIError struct {
	// Provider is the configured instance name.
	Provider string
	// HTTPStatus is the response status code.
	HTTPStatus int
	// Code is the provider's machine code (kyc_post_schema, idempotency_key_exists, ...); empty
	// for bare field maps and non-JSON bodies.
	Code string
	// Type is the provider's error type (Request Error, RESOURCE_CONFLICT, ...).
	Type string
	// Message is the provider's text with every applicant value scrubbed out.
	Message string
	// Fields are per-field messages from a field-map Message or a bare field map.
	Fields map[string][]string

	class errorClass
}

// Error names the provider, status, code and scrubbed message; never a request body.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: HTTP %d", e.Provider, e.HTTPStatus)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if len(e.Fields) > 0 {
		b.WriteString(": fields " + strings.Join(sortedKeys(e.Fields), ","))
	}
	return b.String()
}

// Unwrap returns the sentinel the error was classified as.
func (e *APIError) Unwrap() error {
	switch e.class {
	case classUnavailable:
		return providers.ErrUnavailable
	case classNotFound:
		return providers.ErrSubjectNotFound
	case classMalformed:
		return providers.ErrMalformed
	}
	return providers.ErrRejected
}

// errorClass is what an error answer means for the caller. Start and Status finish the job:
// classInProgress is reconciled by Start, classNoKYC is a NotStarted result for Status.
type errorClass int

const (
	classRejected      errorClass = iota // our credentials, our bug, an unexpected answer
	classUnavailable                     // 429, 5xx: retry later
	classMalformed                       // a body we cannot read
	classField                           // the caller's input, named by a field
	classNotFound                        // the subject does not exist
	classAlreadyPassed                   // KYC passed earlier; never again
	classInProgress                      // a 409: an attempt exists or the key was used
	classNoKYC                           // 404 kyc_dne: no KYC for this subject and program
)

// gatewayField names provider body fields as the gateway's API does. A field not listed here
// is one the caller cannot have caused, so its error is our bug (ErrRejected).
var gatewayField = map[string]string{
	"ssn":                "applicant.ssn",
	"phone":              "applicant.phone",
	"phone_country_code": "applicant.phone_country_code",
	"email":              "applicant.email",
	"ip":                 "applicant.ip",
	"program_id":         "program_id",
}

// passedAtRE finds the timestamp in "KYC already passed for this customer at
// 2021-10-20T10:27:20.154286+00:00" (also with a space or the dash form between date and time).
var passedAtRE = regexp.MustCompile(`\d{4}-\d{2}-\d{2}[T \-]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+\-]\d{2}:?\d{2})`)

// parseError classifies a non-2xx answer. It never fails: what it cannot read is classified by
// HTTP status alone. scrub removes applicant values from provider text (nil: no applicant).
func parseError(provider string, status int, body []byte, scrub func(string) string) *APIError {
	if scrub == nil {
		scrub = func(s string) string { return s }
	}
	e := &APIError{Provider: provider, HTTPStatus: status}
	readable := e.read(body, scrub)

	switch {
	case status == http.StatusTooManyRequests || status >= 500:
		e.class = classUnavailable
		return e
	case status < 400 || status >= 500:
		e.class = classRejected
		return e
	}
	// 4xx from here on.
	if e.Code == "kyc_reinit_fail" || strings.Contains(strings.ToLower(e.Message), "already passed") {
		e.class = classAlreadyPassed
		return e
	}
	switch status {
	case http.StatusConflict:
		// idempotency_key_exists, kyc_init_fail ("KYC already initialized") and any other 409
		// mean an attempt may exist: Start reads it instead of submitting again.
		e.class = classInProgress
	case http.StatusBadRequest:
		switch {
		case len(e.Fields) > 0:
			e.class = classField
			for _, k := range sortedKeys(e.Fields) {
				if _, ok := gatewayField[k]; !ok {
					e.class = classRejected // a field the caller does not control: our bug
				}
			}
		case e.Code == "invalid_program":
			e.class = classField
			e.Fields = map[string][]string{"program_id": {nonEmpty(e.Message, "invalid program")}}
		case !readable:
			e.class = classMalformed
		default:
			e.class = classRejected
		}
	case http.StatusNotFound:
		switch e.Code {
		case "kyc_dne":
			e.class = classNoKYC
		case "customer_dne", "business_dne", "beneficial_owner_dne", "customer_invalid_uuid4":
			e.class = classNotFound
		default:
			// Flask's "requested URL was not found": our base URL or path is wrong.
			e.class = classRejected
		}
	default:
		// 401/403 (our credentials) and every other 4xx are not the caller's doing.
		e.class = classRejected
	}
	return e
}

// read fills Code, Type, Message and Fields from either envelope or a bare field map. It
// reports whether the body was JSON.
func (e *APIError) read(body []byte, scrub func(string) string) bool {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return false
	}
	var all map[string]json.RawMessage
	if err := decodeJSON(body, &all); err != nil {
		return false
	}
	var env errorEnvelope
	if err := decodeJSON(body, &env); err != nil {
		// An envelope key of the wrong type (e.g. "code": 5): keep what the map says.
		env = errorEnvelope{}
	}
	_, hasMU := all["Message"]
	_, hasML := all["message"]
	_, hasCU := all["Code"]
	_, hasCL := all["code"]
	_, hasSU := all["Status"]
	_, hasTU := all["Type"]
	_, hasTL := all["type"]
	if !hasMU && !hasML && !hasCU && !hasCL && !hasSU && !hasTU && !hasTL {
		// A bare validation map: {"ssn": ["Missing data for required field."]}.
		e.Fields = fieldMap(all, scrub)
		return true
	}
	e.Code = nonEmpty(env.CodeUpper, env.CodeLower)
	e.Type = nonEmpty(env.TypeUpper, env.TypeLower)
	msg := env.MessageUpper
	if len(msg) == 0 {
		msg = env.MessageLower
	}
	msg = bytes.TrimSpace(msg)
	if len(msg) > 0 && msg[0] == '{' {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(msg, &m); err == nil {
			e.Fields = fieldMap(m, scrub)
		}
	} else if len(msg) > 0 {
		e.Message = scrub(rawText(msg))
	}
	return true
}

// fieldMap reads {"field": ["msg", ...]} (or "msg", or a nested object for compound fields).
func fieldMap(m map[string]json.RawMessage, scrub func(string) string) map[string][]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string][]string, len(m))
	for k, raw := range m {
		msgs, err := stringList(raw)
		if err != nil {
			msgs = []string{rawText(raw)}
		}
		for i := range msgs {
			msgs[i] = scrub(msgs[i])
		}
		out[k] = msgs
	}
	return out
}

// domainError turns a classified APIError into what Provider methods return.
func (e *APIError) domainError() error {
	switch e.class {
	case classAlreadyPassed:
		return &providers.AlreadyPassedError{PassedAt: passedAt(e.Message)}
	case classField:
		for _, k := range sortedKeys(e.Fields) {
			if f, ok := gatewayField[k]; ok {
				return &providers.FieldError{Field: f, Reason: nonEmpty(strings.Join(e.Fields[k], " "), "invalid")}
			}
		}
	case classInProgress, classNoKYC:
		// Meaningful only to the caller that handles them; anywhere else they are unexpected.
		e.class = classRejected
	}
	return e
}

// passedAt parses the timestamp of the previous successful KYC from the provider's message;
// zero when there is none or it has no zone (a zoneless time would be a guess).
func passedAt(msg string) time.Time {
	m := passedAtRE.FindString(msg)
	if m == "" {
		return time.Time{}
	}
	t, err := parseTime(m)
	if err != nil {
		return time.Time{}
	}
	return t
}

// timeLayouts are the timestamp forms Bond documents: ISO 8601 with a T (the Atelio webhook
// pages), the published documents' dash between date and time, and Python's str(datetime) with a space.
var timeLayouts = []string{
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02-15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999Z0700",
}

func parseTime(s string) (time.Time, error) {
	var firstErr error
	for _, l := range timeLayouts {
		t, err := time.Parse(l, s)
		if err == nil {
			return t, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return time.Time{}, firstErr
}

// scrubber returns a function that removes a's values from provider text, so an error never
// repeats PII even if the provider echoes it. Values under four characters (a country code)
// are left alone: they are not identifying and would mangle ordinary text.
func scrubber(a providers.Applicant) func(string) string {
	var vals []string
	for _, v := range []string{a.SSN, strings.ReplaceAll(a.SSN, "-", ""), a.Phone,
		strings.ReplaceAll(a.Phone, "-", ""), a.Email, a.IP} {
		if len(v) >= 4 {
			vals = append(vals, v)
		}
	}
	sort.Slice(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
	return func(s string) string {
		for _, v := range vals {
			s = strings.ReplaceAll(s, v, "[REDACTED]")
		}
		return s
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func nonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
