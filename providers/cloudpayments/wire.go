package cloudpayments

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/kycgw/kycgw/providers"
)

// userInfo is the GET kyc-ms/getUserInfo body (keys from the SDK, values from published document 004).
type userInfo struct {
	Status            string `json:"status"`
	KycProvider       string `json:"kycProvider"`
	RemainingAttempts optInt `json:"remainingAttempts"`
}

// attemptsLeft is RemainingAttempts, or -1 when the provider did not say.
func (u userInfo) attemptsLeft() int {
	if !u.RemainingAttempts.set || u.RemainingAttempts.n < 0 {
		return -1
	}
	return u.RemainingAttempts.n
}

// sdkToken is the GET kyc-ms/getToken body: the token the vendor's mobile SDK is initialised
// with, and which vendor that is.
type sdkToken struct {
	Token       string `json:"token"`
	KycProvider string `json:"kycProvider"`
}

// registerRequest is the POST kyc-ms/registerUser body: the vendor SDK's result.
type registerRequest struct {
	AccountID  string `json:"accountId"`
	WorkflowID string `json:"workflowId"`
}

// oauthToken is the part of the backend's OauthTokenResponse a refresh needs. The response
// also has jti, app_name, last_signon_timestamp, scope, tenant_name, token_type, user_type,
// uuid and need_change_password, none of which changes what the client does.
type oauthToken struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    optInt `json:"expires_in"`
}

// errorBody holds both error shapes: the SDK's CPInvalidRequest (statusCode, statusMessage,
// additionalStatusCode, additionalStatusMessage, tenantName or tenant_name) and Spring OAuth's
// {error, error_description}. Codes may be strings or numbers; the shape is undocumented.
type errorBody struct {
	StatusCode              flexString `json:"statusCode"`
	StatusMessage           flexString `json:"statusMessage"`
	AdditionalStatusCode    flexString `json:"additionalStatusCode"`
	AdditionalStatusMessage flexString `json:"additionalStatusMessage"`
	TenantName              flexString `json:"tenantName"`
	TenantNameSnake         flexString `json:"tenant_name"`
	Error                   flexString `json:"error"`
	ErrorDescription        flexString `json:"error_description"`
}

// optInt is an integer that may be absent, null, a number or a numeric string.
type optInt struct {
	n   int
	set bool
}

func (o *optInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*o = optInt{}
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		b = []byte(s)
	}
	n, err := strconv.Atoi(string(b))
	if err != nil {
		// 3.0 from a loosely typed backend is still 3.
		f, ferr := strconv.ParseFloat(string(b), 64)
		if ferr != nil || f != float64(int(f)) {
			return fmt.Errorf("not an integer: %.20q", b)
		}
		n = int(f)
	}
	*o = optInt{n: n, set: true}
	return nil
}

// flexString reads any JSON scalar as text, so an error body with a numeric code still tells
// what it can. Objects and arrays read as empty.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0, bytes.Equal(b, []byte("null")), b[0] == '{', b[0] == '[':
		*f = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	default:
		*f = flexString(b)
	}
	return nil
}

// decodeUserInfo reads a getUserInfo answer. A body without a status is malformed: mapping it
// would be a guess.
func decodeUserInfo(b []byte) (userInfo, error) {
	var u userInfo
	if err := json.Unmarshal(b, &u); err != nil {
		return userInfo{}, fmt.Errorf("%w: getUserInfo: %s", providers.ErrMalformed, jsonProblem(err))
	}
	if u.Status == "" {
		return userInfo{}, fmt.Errorf("%w: getUserInfo: no status", providers.ErrMalformed)
	}
	return u, nil
}

// decodeSDKToken reads a getToken answer; a token is the whole point of the call.
func decodeSDKToken(b []byte) (sdkToken, error) {
	var t sdkToken
	if err := json.Unmarshal(b, &t); err != nil {
		return sdkToken{}, fmt.Errorf("%w: getToken: %s", providers.ErrMalformed, jsonProblem(err))
	}
	if t.Token == "" {
		return sdkToken{}, fmt.Errorf("%w: getToken: no token", providers.ErrMalformed)
	}
	return t, nil
}

// decodeOAuthToken reads a token endpoint answer.
func decodeOAuthToken(b []byte) (oauthToken, error) {
	var t oauthToken
	if err := json.Unmarshal(b, &t); err != nil {
		return oauthToken{}, fmt.Errorf("%w: oauth token: %s", providers.ErrMalformed, jsonProblem(err))
	}
	if t.AccessToken == "" {
		return oauthToken{}, fmt.Errorf("%w: oauth token: no access_token", providers.ErrMalformed)
	}
	if t.ExpiresIn.set && t.ExpiresIn.n < 0 {
		return oauthToken{}, fmt.Errorf("%w: oauth token: negative expires_in", providers.ErrMalformed)
	}
	return t, nil
}

// jsonProblem describes a decoding error without quoting the body: a token response's body
// is credentials, and encoding/json's messages can repeat pieces of it.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at offset %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q has the wrong type", te.Field)
	}
	return "invalid JSON"
}
