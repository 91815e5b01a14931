package bond

import (
	"bytes"
	"encoding/json"
	"errors"
	"sort"
	"strings"

	"github.com/kycgw/kycgw/providers"
)

// maxBody caps every body this package reads (responses and webhooks). Bond's payloads are a
// few hundred bytes; anything near the cap is not Bond talking.
const maxBody = 1 << 20

// startRequest is the body of POST .../verification-kyc. Optional fields are omitted when
// empty: Bond validates the format of whatever is present, and "" is not a valid SSN.
type startRequest struct {
	ProgramID        string `json:"program_id"`
	SSN              string `json:"ssn,omitempty"`
	Phone            string `json:"phone,omitempty"`
	PhoneCountryCode string `json:"phone_country_code,omitempty"`
	Email            string `json:"email,omitempty"`
	IP               string `json:"ip,omitempty"`
	// KYCRetryRequest is documented for beneficial owners only, so customers never send it.
	KYCRetryRequest *bool `json:"kyc_retry_request,omitempty"`
}

// kycResponse is the body of a successful POST or GET .../verification-kyc. The GET adds
// results, health and info; failure details (error_code, description, reasons) appear in
// webhooks and may appear here.
type kycResponse struct {
	CustomerID        string                     `json:"customer_id"`
	BeneficialOwnerID string                     `json:"beneficial_owner_id"`
	KYCStatus         *string                    `json:"kyc_status"`
	Results           map[string]json.RawMessage `json:"results"`
	ErrorCode         string                     `json:"error_code"`
	Description       string                     `json:"description"`
	Reasons           json.RawMessage            `json:"reasons"`
}

// errorEnvelope holds both documented error shapes at once: the capitalised
// {"Message","Status","Code","Type"} and the lower-case {"type","code","message"}. Message may
// be a string or a field map, so it stays raw until classified.
type errorEnvelope struct {
	MessageUpper json.RawMessage `json:"Message"`
	StatusUpper  json.RawMessage `json:"Status"`
	CodeUpper    string          `json:"Code"`
	TypeUpper    string          `json:"Type"`
	MessageLower json.RawMessage `json:"message"`
	CodeLower    string          `json:"code"`
	TypeLower    string          `json:"type"`
}

// webhookPayload is every documented KYC webhook body. There is no envelope and no event id.
type webhookPayload struct {
	Event             string `json:"event"`
	CustomerID        string `json:"customer_id"`
	BeneficialOwnerID string `json:"beneficial_owner_id"`
	// BusinessID is not in any documented payload; it is read in case Bond adds it.
	BusinessID string `json:"business_id"`
	// ProgramID is not documented either; read when present.
	ProgramID   string          `json:"program_id"`
	OccurredAt  *string         `json:"occurred_at"`
	Reasons     json.RawMessage `json:"reasons"`
	ErrorCode   string          `json:"error_code"`
	Description string          `json:"description"`
	Documents   []wireDocument  `json:"documents"`
	Fields      []string        `json:"fields"`
	// IncorrectInformation is the name the event table gives the field list the examples call
	// "fields"; its shape is undocumented, so it is raw (a list or a single string).
	IncorrectInformation json.RawMessage `json:"incorrect_information"`
}

type wireDocument struct {
	DocumentType string `json:"document_type"`
	Status       string `json:"status"`
	UploadLink   string `json:"upload_link"`
}

// subscribeRequest is the body of POST /webhooks.
type subscribeRequest struct {
	URL         string   `json:"url"`
	Description string   `json:"description"`
	Events      []string `json:"events"`
	Version     string   `json:"version"`
	Status      string   `json:"status"`
}

// wireSubscription is one subscription in either documented response shape: nested under
// "webhook_subscription" with "id", or flat with "webhook_id".
type wireSubscription struct {
	ID        string `json:"id"`
	WebhookID string `json:"webhook_id"`
	Secret    string `json:"secret"`
}

type subscribeResponse struct {
	WebhookSubscription *wireSubscription `json:"webhook_subscription"`
	wireSubscription
}

// decodeJSON decodes strictly first; only when that fails with a syntax error does it retry on
// a repaired copy (see repairJSON). Valid JSON is therefore never rewritten.
func decodeJSON(data []byte, v any) error {
	err := json.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return err
	}
	fixed, ok := repairJSON(data)
	if !ok {
		return err
	}
	if err2 := json.Unmarshal(fixed, v); err2 != nil {
		return err
	}
	return nil
}

// repairJSON fixes the three defects the provider's published payloads show, and only outside
// strings: a trailing comma before } or ] (`},\n]`), a missing comma between two values (the
// "PO Box" example lacks one between two members), and Markdown line-continuation backslashes at the end
// of a line (`[\` in the reenter_information example). Each is invalid JSON, so valid input can
// never be changed by it. It reports false when there was nothing to repair.
func repairJSON(in []byte) ([]byte, bool) {
	out := make([]byte, 0, len(in)+8)
	changed := false
	inString, escaped := false, false
	// last is the kind of the last significant token emitted outside strings.
	const (
		tokNone = iota
		tokValueEnd
		tokOther
	)
	last := tokNone
	pendingComma := -1 // index in out of a comma not yet known to be legal
	for i := 0; i < len(in); i++ {
		c := in[i]
		if inString {
			out = append(out, c)
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
				last = tokValueEnd
			}
			continue
		}
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			out = append(out, c)
			continue
		case c == '\\' && (i+1 < len(in) && (in[i+1] == '\n' || in[i+1] == '\r')):
			changed = true // Markdown continuation: drop it
			continue
		case c == ',':
			pendingComma = len(out)
			out = append(out, c)
			last = tokOther
			continue
		case c == '}' || c == ']':
			if pendingComma >= 0 {
				out = append(out[:pendingComma], out[pendingComma+1:]...)
				changed = true
			}
			pendingComma = -1
			out = append(out, c)
			last = tokValueEnd
			continue
		case c == ':' || c == '{' || c == '[':
			if c != ':' && last == tokValueEnd {
				out = append(out, ',')
				changed = true
			}
			pendingComma = -1
			out = append(out, c)
			last = tokOther
			continue
		}
		// A value or key start: a string or a scalar (number, true, false, null).
		if last == tokValueEnd {
			out = append(out, ',')
			changed = true
		}
		pendingComma = -1
		if c == '"' {
			inString = true
			out = append(out, c)
			continue
		}
		j := i
		for j < len(in) && isScalarByte(in[j]) {
			j++
		}
		if j == i {
			// Not JSON at all; give up rather than guess.
			return nil, false
		}
		out = append(out, in[i:j]...)
		i = j - 1
		last = tokValueEnd
	}
	return out, changed
}

func isScalarByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
		c == '.' || c == '-' || c == '+'
}

// checksFrom turns a {"ofac":"passed",...} object into Checks sorted by name. Non-string values
// keep their compact JSON text rather than being dropped.
func checksFrom(m map[string]json.RawMessage) []providers.Check {
	if len(m) == 0 {
		return nil
	}
	out := make([]providers.Check, 0, len(m))
	for name, raw := range m {
		out = append(out, providers.Check{Name: name, Result: rawText(raw)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// rawText is a JSON string's value, or any other JSON value's compact text.
func rawText(raw json.RawMessage) string {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err == nil {
		return buf.String()
	}
	return strings.TrimSpace(string(raw))
}

// reasonsOf reads Bond's "reasons", which is an object of per-check results on failures and a
// plain sentence on some under_review events ("Foreign Beneficial Owner").
func reasonsOf(raw json.RawMessage) (checks []providers.Check, text string, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, "", nil
	}
	switch raw[0] {
	case '{':
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, "", err
		}
		return checksFrom(m), "", nil
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, "", err
		}
		return nil, s, nil
	}
	return nil, "", errUnexpectedReasons
}

// stringList reads a JSON list of strings or a single string.
func stringList(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err == nil {
		return list, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	return []string{s}, nil
}
