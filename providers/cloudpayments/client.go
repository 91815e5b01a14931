package cloudpayments

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kycgw/kycgw/providers"
)

// Compile-time proof that Client is a polled provider with its own input validation.
var (
	_ providers.Provider  = (*Client)(nil)
	_ providers.Validator = (*Client)(nil)
	_ providers.Poller    = (*Client)(nil)
)

// DefaultPollInterval is how long after a Start the gateway first polls, when Config does not
// say.
const DefaultPollInterval = 2 * time.Second

// defaultTimeout bounds a provider call when the caller supplies no HTTPClient, so a hung
// provider cannot hold a request forever even if the caller's context has no deadline.
const defaultTimeout = 30 * time.Second

// maxBody caps what is read of a response; kyc-ms answers are a few hundred bytes.
const maxBody = 1 << 20

// API paths, relative to Config.BaseURL.
const (
	pathUserInfo     = "kyc-ms/getUserInfo"
	pathSDKToken     = "kyc-ms/getToken"
	pathRegisterUser = "kyc-ms/registerUser"
	pathOAuthToken   = "auth/oauth/token"
)

// Config configures one CloudPayments instance.
type Config struct {
	// Name is the instance name clients use (e.g. "cloudpayments"). Required.
	Name string
	// BaseURL is the API host root, e.g. https://api.cloudpayments-staging.com or
	// http://127.0.0.1:8080/sandbox/cloudpayments; kyc-ms/... and auth/oauth/token are
	// appended. A trailing slash is ignored. Required.
	BaseURL string
	// TenantName and APIKey are sent as the tenantName and api-key headers of every call.
	// Required.
	TenantName string
	APIKey     string
	// PollInterval is how soon the gateway polls after a Start; zero means
	// DefaultPollInterval.
	PollInterval time.Duration
	// HTTPClient makes the calls; nil means a client with a 30 s timeout.
	HTTPClient *http.Client
	// Now is the clock that decides whether a session has expired; nil means time.Now.
	Now func() time.Time
}

// String leaves the API key out, so a logged Config leaks no credential.
func (c Config) String() string {
	return fmt.Sprintf("cloudpayments.Config{Name:%q BaseURL:%q TenantName:%q APIKey:[REDACTED] PollInterval:%s}",
		c.Name, c.BaseURL, c.TenantName, c.PollInterval)
}

// GoString is String, so %#v is safe too.
func (c Config) GoString() string { return c.String() }

// LogValue implements slog.LogValuer.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Client is one configured CloudPayments instance. It keeps no per-user state (sessions travel
// with each call), so it is safe for concurrent use.
type Client struct {
	name     string
	baseURL  string
	tenant   string
	apiKey   string
	interval time.Duration
	http     *http.Client
	now      func() time.Time
}

// New validates cfg and returns a Client. Errors name the offending Config field.
func New(cfg Config) (*Client, error) {
	if strings.TrimSpace(cfg.Name) == "" {
		return nil, fmt.Errorf("cloudpayments config: Name is required")
	}
	prefix := fmt.Sprintf("cloudpayments config %q", cfg.Name)
	if cfg.BaseURL == "" {
		return nil, fmt.Errorf("%s: BaseURL is required", prefix)
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s: BaseURL must be an absolute http(s) URL", prefix)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("%s: BaseURL must not have user info, a query or a fragment", prefix)
	}
	if cfg.TenantName == "" || !headerSafe(cfg.TenantName) {
		return nil, fmt.Errorf("%s: TenantName is required and must be printable text", prefix)
	}
	if cfg.APIKey == "" || !headerSafe(cfg.APIKey) {
		return nil, fmt.Errorf("%s: APIKey is required and must be printable text", prefix)
	}
	if cfg.PollInterval < 0 {
		return nil, fmt.Errorf("%s: PollInterval must not be negative", prefix)
	}
	c := &Client{
		name:     cfg.Name,
		baseURL:  strings.TrimRight(cfg.BaseURL, "/") + "/",
		tenant:   cfg.TenantName,
		apiKey:   cfg.APIKey,
		interval: cfg.PollInterval,
		http:     cfg.HTTPClient,
		now:      cfg.Now,
	}
	if c.interval == 0 {
		c.interval = DefaultPollInterval
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: defaultTimeout}
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// headerSafe reports whether s can be sent as a header value unchanged.
func headerSafe(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// String names the instance; the API key stays out of logs.
func (c *Client) String() string { return "cloudpayments.Client{" + c.name + "}" }

// GoString is String, so %#v is safe too.
func (c *Client) GoString() string { return c.String() }

// LogValue implements slog.LogValuer.
func (c *Client) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Name returns the configured instance name.
func (c *Client) Name() string { return c.name }

// PollInterval implements providers.Poller: CloudPayments has no webhooks.
func (c *Client) PollInterval() time.Duration { return c.interval }

// Start runs one step of the CloudPayments flow for the user the session belongs to.
//
// Without an SDK result it reads the user's KYC status: a user who passed is an
// *providers.AlreadyPassedError; a rejected user or one in review is reported as is; otherwise
// (not registered, started, or asked to resubmit) it fetches a vendor SDK token and returns
// INCOMPLETE with a NextAction to run the SDK. With the SDK result (account_id and workflow_id)
// it registers the result, and the user is under review.
//
// If the access token had to be refreshed, Result.Session carries the new session. (When a
// later call of the same Start fails, the refreshed session is not returned; CloudPayments
// reuses refresh tokens, so the caller's session still refreshes next time.)
func (c *Client) Start(ctx context.Context, in providers.StartInput) (providers.Result, error) {
	if err := c.ValidateStart(in); err != nil {
		return providers.Result{}, fmt.Errorf("%s start: %w", c.name, err)
	}
	cp := in.CloudPayments
	s := newSession(cp.Session)
	var (
		res providers.Result
		err error
	)
	if cp.AccountID != "" {
		res, err = c.register(ctx, s, cp.AccountID, cp.WorkflowID)
	} else {
		res, err = c.begin(ctx, s, cp.DeviceID)
	}
	if err != nil {
		return providers.Result{}, fmt.Errorf("%s start: %w", c.name, err)
	}
	res.Session = s.refreshed()
	return res, nil
}

// begin is Start before the SDK has run.
func (c *Client) begin(ctx context.Context, s *session, deviceID string) (providers.Result, error) {
	info, err := c.userInfo(ctx, s)
	if err != nil {
		return providers.Result{}, err
	}
	st, err := mapStatus(c.name, info.Status)
	if err != nil {
		return providers.Result{}, err
	}
	switch st {
	case providers.StatusPassed:
		// getUserInfo does not say when; the gateway shows its own record's time, if any.
		return providers.Result{}, &providers.AlreadyPassedError{}
	case providers.StatusFailed, providers.StatusUnderReview:
		// Rejected, or documents already in review: no new attempt can be opened now.
		return providers.Result{Status: st, ProviderStatus: info.Status}, nil
	case providers.StatusNotStarted, providers.StatusIncomplete, providers.StatusResubmitRequired:
		tok, err := c.sdkToken(ctx, s, deviceID)
		if err != nil {
			return providers.Result{}, err
		}
		return providers.Result{
			Status:         providers.StatusIncomplete,
			ProviderStatus: info.Status,
			Submitted:      true,
			NextAction: providers.NextAction{
				Kind: providers.ActionRunSDK,
				SDK:  providers.SDKSession{Token: tok.Token, Vendor: firstNonEmpty(tok.KycProvider, info.KycProvider)},
			},
		}, nil
	}
	// mapStatus returns only the statuses above; a new row there must get a rule here.
	return providers.Result{}, &providers.UnknownStatusError{Provider: c.name, Value: info.Status}
}

// register is Start with the SDK's result. A refusal (the user is not in a state that takes a
// result) is reconciled from getUserInfo: a result registered before is in review or decided,
// and a user who passed meanwhile has passed.
func (c *Client) register(ctx context.Context, s *session, accountID, workflowID string) (providers.Result, error) {
	body, err := json.Marshal(registerRequest{AccountID: accountID, WorkflowID: workflowID})
	if err != nil {
		return providers.Result{}, fmt.Errorf("%w: encode registerUser: %v", providers.ErrRejected, err)
	}
	status, data, err := c.kyc(ctx, s, http.MethodPost, pathRegisterUser, nil, body)
	if err != nil {
		return providers.Result{}, fmt.Errorf("registerUser: %w", err)
	}
	if ok(status) {
		// The answer's body is not documented (the SDK ignores it); success is the status.
		return providers.Result{Status: providers.StatusUnderReview, ProviderStatus: statusPending}, nil
	}
	ae := parseError(c.name, status, data, c.secrets(s)...)
	if status != http.StatusBadRequest && status != http.StatusConflict {
		return providers.Result{}, fmt.Errorf("registerUser: %w", ae)
	}
	info, err := c.userInfo(ctx, s)
	if err != nil {
		return providers.Result{}, fmt.Errorf("registerUser: %w (reconciling: %v)", ae, err)
	}
	switch info.Status {
	case statusApprovedVerified, statusAccepted:
		return providers.Result{}, &providers.AlreadyPassedError{}
	case statusPending:
		return providers.Result{Status: providers.StatusUnderReview, ProviderStatus: statusPending}, nil
	case statusRejected:
		// The result was registered before and decided: the repeat answers with the decision.
		return providers.Result{Status: providers.StatusFailed, ProviderStatus: statusRejected}, nil
	}
	return providers.Result{}, fmt.Errorf("registerUser: %w", ae)
}

// Status reads the user's KYC status with the user's session (StatusInput.Session). It is what
// the gateway polls. A session that is expired and cannot be refreshed is a
// *providers.FieldError on cloudpayments.access_token: nothing more can be read until the user
// signs in again.
func (c *Client) Status(ctx context.Context, in providers.StatusInput) (providers.Result, error) {
	if in.Session == nil || in.Session.AccessToken == "" {
		return providers.Result{}, fmt.Errorf("%s status: %w", c.name,
			&providers.FieldError{Field: "cloudpayments.access_token", Reason: "required: the user's CloudPayments access token"})
	}
	if err := checkTokenOwner(in.Subject.UserID, in.Session.AccessToken); err != nil {
		return providers.Result{}, fmt.Errorf("%s status: %w", c.name, err)
	}
	s := newSession(*in.Session)
	info, err := c.userInfo(ctx, s)
	if err != nil {
		return providers.Result{}, fmt.Errorf("%s status: %w", c.name, err)
	}
	res, err := statusResult(c.name, info)
	if err != nil {
		return providers.Result{}, fmt.Errorf("%s status: %w", c.name, err)
	}
	res.Session = s.refreshed()
	return res, nil
}

// userInfo calls GET kyc-ms/getUserInfo.
func (c *Client) userInfo(ctx context.Context, s *session) (userInfo, error) {
	status, data, err := c.kyc(ctx, s, http.MethodGet, pathUserInfo, nil, nil)
	if err != nil {
		return userInfo{}, fmt.Errorf("getUserInfo: %w", err)
	}
	if !ok(status) {
		return userInfo{}, fmt.Errorf("getUserInfo: %w", parseError(c.name, status, data, c.secrets(s)...))
	}
	return decodeUserInfo(data)
}

// sdkToken calls GET kyc-ms/getToken. The document lists deviceId among the inputs without
// saying whether it is a query parameter or a body field (the SDK's request is not readable
// either); a GET has no body, so it goes in the query, and only when known ("Not required").
func (c *Client) sdkToken(ctx context.Context, s *session, deviceID string) (sdkToken, error) {
	var q url.Values
	if deviceID != "" {
		q = url.Values{"deviceId": {deviceID}}
	}
	status, data, err := c.kyc(ctx, s, http.MethodGet, pathSDKToken, q, nil)
	if err != nil {
		return sdkToken{}, fmt.Errorf("getToken: %w", err)
	}
	if !ok(status) {
		return sdkToken{}, fmt.Errorf("getToken: %w", parseError(c.name, status, data, c.secrets(s)...))
	}
	return decodeSDKToken(data)
}

// session is the user's session during one Start or Status: at most one refresh happens.
type session struct {
	orig providers.Session // as the caller gave it
	cur  providers.Session
	done bool // refreshed during this call
}

func newSession(s providers.Session) *session { return &session{orig: s, cur: s} }

// refreshed returns the new session for Result.Session, or nil when it did not change.
func (s *session) refreshed() *providers.Session {
	if !s.done {
		return nil
	}
	n := s.cur
	return &n
}

// secrets are the values provider text must not repeat in an error: the user's tokens (old
// and, after a refresh, new) and our API key.
func (c *Client) secrets(s *session) []string {
	return []string{s.cur.AccessToken, s.cur.RefreshToken, s.orig.AccessToken, s.orig.RefreshToken, c.apiKey}
}

// kyc makes one kyc-ms call with the user's access token. It refreshes the token first when
// the session says it has expired, and once after a 401, then retries. A session that cannot
// be refreshed is sessionError. The returned status is never 401.
func (c *Client) kyc(ctx context.Context, s *session, method, path string, q url.Values, body []byte) (int, []byte, error) {
	exp := s.cur.ExpiresAt
	if !exp.IsZero() && !c.now().Before(exp) && s.cur.RefreshToken != "" && !s.done {
		if err := c.refresh(ctx, s); err != nil {
			return 0, nil, err
		}
	}
	status, data, err := c.send(ctx, method, path, q, body, "application/json", s.cur.AccessToken)
	if err != nil || status != http.StatusUnauthorized {
		return status, data, err
	}
	if s.cur.RefreshToken == "" || s.done {
		return 0, nil, sessionError()
	}
	if err := c.refresh(ctx, s); err != nil {
		return 0, nil, err
	}
	status, data, err = c.send(ctx, method, path, q, body, "application/json", s.cur.AccessToken)
	if err == nil && status == http.StatusUnauthorized {
		return 0, nil, sessionError()
	}
	return status, data, err
}

// refresh trades the refresh token for a new access token (POST auth/oauth/token,
// grant_type=refresh_token). The provider refusing the grant means the session is over.
func (c *Client) refresh(ctx context.Context, s *session) error {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {s.cur.RefreshToken}}
	status, data, err := c.send(ctx, http.MethodPost, pathOAuthToken, nil, []byte(form.Encode()),
		"application/x-www-form-urlencoded", "")
	if err != nil {
		return fmt.Errorf("refresh access token: %w", err)
	}
	if !ok(status) {
		ae := parseError(c.name, status, data, c.secrets(s)...)
		if status == http.StatusBadRequest || status == http.StatusUnauthorized {
			// Spring answers invalid_grant (400) for an unknown or expired refresh token, and
			// 401 when the grant's client is refused: either way only a new sign-in helps.
			return sessionError()
		}
		return fmt.Errorf("refresh access token: %w", ae)
	}
	tok, err := decodeOAuthToken(data)
	if err != nil {
		return err
	}
	next := providers.Session{AccessToken: tok.AccessToken, RefreshToken: firstNonEmpty(tok.RefreshToken, s.cur.RefreshToken)}
	if tok.ExpiresIn.set {
		next.ExpiresAt = c.now().Add(time.Duration(tok.ExpiresIn.n) * time.Second)
	}
	s.cur, s.done = next, true
	return nil
}

// send makes one request and returns the status and (capped) body. Transport failures,
// timeouts and cancellations wrap ErrUnavailable and keep the cause, so errors.Is(err,
// context.Canceled) still works for a caller that gave up. bearer, when set, is sent as the
// Authorization header; tokens never appear in the URL, so transport errors cannot leak them.
func (c *Client) send(ctx context.Context, method, path string, q url.Values, body []byte, contentType, bearer string) (int, []byte, error) {
	u := c.baseURL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: build request: %v", providers.ErrRejected, err)
	}
	// The document spells these headers tenantName and api-key; set as given rather than
	// canonicalised (HTTP/1.1 names are case-insensitive, but gateways are not always).
	req.Header["tenantName"] = []string{c.tenant}
	req.Header["api-key"] = []string{c.apiKey}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %w", providers.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return 0, nil, fmt.Errorf("%w: read response: %w", providers.ErrUnavailable, err)
	}
	if len(data) > maxBody {
		return 0, nil, fmt.Errorf("%w: response larger than %d bytes", providers.ErrMalformed, maxBody)
	}
	return resp.StatusCode, data, nil
}

func ok(status int) bool { return status >= 200 && status <= 299 }
