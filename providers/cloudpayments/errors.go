package cloudpayments

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"

	"github.com/kycgw/kycgw/providers"
)

// maxMessage bounds the provider text an error repeats.
const maxMessage = 256

// APIError is a non-2xx answer from CloudPayments. It unwraps to the providers sentinel it was
// classified as (ErrRejected, ErrUnavailable or ErrSubjectNotFound), so callers switch with
// errors.Is and may still read the provider's codes with errors.As.
type APIError struct {
	// Provider is the configured instance name.
	Provider string
	// HTTPStatus is the response status code.
	HTTPStatus int
	// Code is the most specific machine code the body has: CPInvalidRequest's
	// additionalStatusCode, else Spring OAuth's error, else statusCode. Empty for bodies that
	// are not JSON objects.
	Code string
	// StatusCode is CPInvalidRequest's statusCode, when there is one.
	StatusCode string
	// Message is the provider's text (additionalStatusMessage, error_description or
	// statusMessage) with anything token-shaped removed.
	Message string
	// TenantName is the tenant the provider says it answered for (tenantName or tenant_name).
	TenantName string

	class errorClass
}

// errorClass is what an error answer means for the caller.
type errorClass int

const (
	classRejected     errorClass = iota // our configuration, our bug, an unexpected answer
	classUnavailable                    // 429, 5xx: retry later
	classNotFound                       // the user does not exist
	classUnauthorized                   // 401: the access token; handled by the refresh logic
)

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
	return b.String()
}

// Unwrap returns the sentinel the error was classified as. A 401 that escapes the refresh
// logic is our request's fault as far as the caller can tell.
func (e *APIError) Unwrap() error {
	switch e.class {
	case classUnavailable:
		return providers.ErrUnavailable
	case classNotFound:
		return providers.ErrSubjectNotFound
	}
	return providers.ErrRejected
}

// parseError classifies a non-2xx answer. It never fails: what it cannot read is classified by
// HTTP status alone. secrets are removed from any provider text that is kept.
func parseError(provider string, status int, body []byte, secrets ...string) *APIError {
	e := &APIError{Provider: provider, HTTPStatus: status}
	e.read(body, scrubber(secrets...))
	switch {
	case status == http.StatusTooManyRequests || status >= 500:
		e.class = classUnavailable
	case status == http.StatusUnauthorized:
		e.class = classUnauthorized
	case status == http.StatusNotFound:
		e.class = classNotFound
	default:
		// 403 (api-key or tenantName: our configuration), 400 (our request) and anything else
		// are not the caller's doing.
		e.class = classRejected
	}
	return e
}

// read fills the fields from either error shape.
func (e *APIError) read(body []byte, scrub func(string) string) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return
	}
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err != nil {
		return
	}
	e.StatusCode = clip(scrub(string(eb.StatusCode)))
	e.Code = clip(scrub(firstNonEmpty(string(eb.AdditionalStatusCode), string(eb.Error), string(eb.StatusCode))))
	e.Message = clip(scrub(firstNonEmpty(string(eb.AdditionalStatusMessage), string(eb.ErrorDescription), string(eb.StatusMessage))))
	e.TenantName = clip(firstNonEmpty(string(eb.TenantName), string(eb.TenantNameSnake)))
}

// tokenTextRE finds what is token-shaped in provider text: JWTs (Spring's "Invalid access
// token: eyJ...") and any value after "token:" or "token=".
var tokenTextRE = regexp.MustCompile(`eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*\.?[A-Za-z0-9_\-]*|(?i:token\s*[:=]\s*)\S+`)

// scrubber returns a function that removes secrets and anything token-shaped from provider
// text. Secrets shorter than 8 characters are ignored: no real token is that short, and
// removing them would mangle ordinary words.
func scrubber(secrets ...string) func(string) string {
	var vals []string
	for _, s := range secrets {
		if len(s) >= 8 {
			vals = append(vals, s)
		}
	}
	sort.Slice(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
	return func(s string) string {
		for _, v := range vals {
			s = strings.ReplaceAll(s, v, "[REDACTED]")
		}
		return tokenTextRE.ReplaceAllStringFunc(s, func(m string) string {
			if i := strings.IndexAny(m, ":="); i >= 0 && !strings.HasPrefix(m, "eyJ") {
				return m[:i+1] + " [REDACTED]"
			}
			return "[REDACTED]"
		})
	}
}

// clip bounds provider text and keeps it on one line.
func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxMessage {
		s = s[:maxMessage] + "..."
	}
	return s
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	return ""
}

// sessionError is what a session that cannot be used (expired or invalid, and not
// refreshable) is reported as: the caller's input, named as in the gateway's API. The gateway
// stops polling on it.
func sessionError() error {
	return &providers.FieldError{Field: "cloudpayments.access_token", Reason: "expired or invalid; sign the user in again"}
}
