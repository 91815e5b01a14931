package bond

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kycgw/kycgw/providers"
)

// Compile-time proof that Client is a full Bond-style provider.
var (
	_ providers.Provider          = (*Client)(nil)
	_ providers.Validator         = (*Client)(nil)
	_ providers.WebhookReceiver   = (*Client)(nil)
	_ providers.WebhookSubscriber = (*Client)(nil)
)

// DefaultSignatureTolerance is how far a webhook's Bond-Signature timestamp may be from now.
// Bond documents none; five minutes is the Standard Webhooks default its secrets suggest.
const DefaultSignatureTolerance = 5 * time.Minute

// defaultTimeout bounds a provider call when the caller supplies no HTTPClient, so a hung
// provider cannot hold a request forever even if the caller's context has no deadline.
const defaultTimeout = 30 * time.Second

// Config configures one provider instance of the Bond/Atelio API family.
type Config struct {
	// Name is the instance name clients use (e.g. "bond", "atelio"). Required.
	Name string
	// BaseURL is the API root, e.g. https://sandbox.bond.tech/api/v0.1 or
	// http://127.0.0.1:8080/sandbox/atelio/api/v0.1. A trailing slash is ignored. Required.
	BaseURL string
	// Identity and Authorization are the two halves of the API key, sent as headers of the
	// same names (Authorization has no "Bearer" prefix). Required.
	Identity      string
	Authorization string
	// WebhookSecret verifies Bond-Signature headers (the whole "whsec_..." string). It may be
	// empty when SubscribeWebhook will supply it; until then every webhook is refused.
	WebhookSecret string
	// HTTPClient makes the calls; nil means a client with a 30 s timeout.
	HTTPClient *http.Client
	// SignatureTolerance bounds webhook timestamp skew; zero means DefaultSignatureTolerance.
	SignatureTolerance time.Duration
	// RequireIP makes ValidateStart demand applicant.ip (programs can make ip mandatory).
	RequireIP bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Client is one configured Bond/Atelio instance. It is safe for concurrent use.
type Client struct {
	name          string
	baseURL       string
	identity      string
	authorization string
	http          *http.Client
	tolerance     time.Duration
	requireIP     bool
	now           func() time.Time
	// secret is swapped by SubscribeWebhook while webhooks are being verified.
	secret atomic.Pointer[string]
}

// New validates cfg and returns a Client. Errors name the offending Config field.
func New(cfg Config) (*Client, error) {
	if strings.TrimSpace(cfg.Name) == "" {
		return nil, fmt.Errorf("bond config: Name is required")
	}
	prefix := fmt.Sprintf("bond config %q", cfg.Name)
	if cfg.BaseURL == "" {
		return nil, fmt.Errorf("%s: BaseURL is required", prefix)
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s: BaseURL must be an absolute http(s) URL", prefix)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%s: BaseURL must not have a query or fragment", prefix)
	}
	if cfg.Identity == "" {
		return nil, fmt.Errorf("%s: Identity is required", prefix)
	}
	if cfg.Authorization == "" {
		return nil, fmt.Errorf("%s: Authorization is required", prefix)
	}
	if cfg.SignatureTolerance < 0 {
		return nil, fmt.Errorf("%s: SignatureTolerance must not be negative", prefix)
	}
	c := &Client{
		name:          cfg.Name,
		baseURL:       strings.TrimRight(cfg.BaseURL, "/"),
		identity:      cfg.Identity,
		authorization: cfg.Authorization,
		http:          cfg.HTTPClient,
		tolerance:     cfg.SignatureTolerance,
		requireIP:     cfg.RequireIP,
		now:           cfg.Now,
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: defaultTimeout}
	}
	if c.tolerance == 0 {
		c.tolerance = DefaultSignatureTolerance
	}
	if c.now == nil {
		c.now = time.Now
	}
	if cfg.WebhookSecret != "" {
		s := cfg.WebhookSecret
		c.secret.Store(&s)
	}
	return c, nil
}

// Name returns the configured instance name.
func (c *Client) Name() string { return c.name }

// Start submits the applicant. When Bond answers 409 (an attempt in progress, or the
// Idempotency-Key was used before) it never resubmits: it reads the current status and returns
// that with Submitted=false, or an *providers.AlreadyPassedError when the read says passed.
func (c *Client) Start(ctx context.Context, in providers.StartInput) (providers.Result, error) {
	path, err := kycPath(in.Subject)
	if err != nil {
		return providers.Result{}, fmt.Errorf("%s start: %w", c.name, err)
	}
	body := startRequest{
		ProgramID:        in.ProgramID,
		SSN:              in.Applicant.SSN,
		Phone:            in.Applicant.Phone,
		PhoneCountryCode: in.Applicant.PhoneCountryCode,
		Email:            in.Applicant.Email,
		IP:               in.Applicant.IP,
	}
	if in.Subject.Kind() == providers.SubjectBeneficialOwner {
		retry := in.Retry
		body.KYCRetryRequest = &retry
	}
	status, resp, err := c.do(ctx, http.MethodPost, path, nil, body, in.IdempotencyKey)
	if err != nil {
		return providers.Result{}, fmt.Errorf("%s start: %w", c.name, err)
	}
	if status < 200 || status > 299 {
		ae := parseError(c.name, status, resp, scrubber(in.Applicant))
		if ae.class == classInProgress {
			return c.reconcile(ctx, in, ae)
		}
		return providers.Result{}, fmt.Errorf("%s start: %w", c.name, ae.domainError())
	}
	var kr kycResponse
	if err := decodeJSON(resp, &kr); err != nil || kr.KYCStatus == nil {
		return providers.Result{}, fmt.Errorf("%s start: %w: response has no kyc_status", c.name, providers.ErrMalformed)
	}
	st, err := mapKYCStatus(c.name, *kr.KYCStatus)
	if err != nil {
		return providers.Result{}, fmt.Errorf("%s start: %w", c.name, err)
	}
	return providers.Result{
		Status:         st,
		ProviderStatus: *kr.KYCStatus,
		Submitted:      true,
		NextAction:     nextActionFor(st),
	}, nil
}

// reconcile answers a 409 from the provider's own record instead of submitting again.
func (c *Client) reconcile(ctx context.Context, in providers.StartInput, conflict *APIError) (providers.Result, error) {
	res, err := c.Status(ctx, providers.StatusInput{ProgramID: in.ProgramID, Subject: in.Subject})
	if err != nil {
		return providers.Result{}, fmt.Errorf("%s start: reconcile after HTTP 409 %s: %w", c.name, conflict.Code, err)
	}
	if res.Status == providers.StatusPassed {
		return providers.Result{}, fmt.Errorf("%s start: %w", c.name, &providers.AlreadyPassedError{PassedAt: res.PassedAt})
	}
	res.Submitted = false
	return res, nil
}

// Status reads the current KYC of one subject for one program. No KYC yet (404 kyc_dne) is a
// NotStarted result, not an error.
func (c *Client) Status(ctx context.Context, in providers.StatusInput) (providers.Result, error) {
	path, err := kycPath(in.Subject)
	if err != nil {
		return providers.Result{}, fmt.Errorf("%s status: %w", c.name, err)
	}
	q := url.Values{"program_id": {in.ProgramID}}
	status, resp, err := c.do(ctx, http.MethodGet, path, q, nil, "")
	if err != nil {
		return providers.Result{}, fmt.Errorf("%s status: %w", c.name, err)
	}
	if status < 200 || status > 299 {
		ae := parseError(c.name, status, resp, nil)
		if ae.class == classNoKYC {
			return providers.Result{Status: providers.StatusNotStarted, ProviderStatus: "kyc_dne"}, nil
		}
		return providers.Result{}, fmt.Errorf("%s status: %w", c.name, ae.domainError())
	}
	var kr kycResponse
	if err := decodeJSON(resp, &kr); err != nil || kr.KYCStatus == nil {
		return providers.Result{}, fmt.Errorf("%s status: %w: response has no kyc_status", c.name, providers.ErrMalformed)
	}
	st, err := mapKYCStatus(c.name, *kr.KYCStatus)
	if err != nil {
		return providers.Result{}, fmt.Errorf("%s status: %w", c.name, err)
	}
	res := providers.Result{
		Status:         st,
		ProviderStatus: *kr.KYCStatus,
		NextAction:     nextActionFor(st),
		Checks:         checksFrom(kr.Results),
		Reason:         providers.Reason{Code: kr.ErrorCode, Description: kr.Description},
	}
	checks, text, err := reasonsOf(kr.Reasons)
	if err != nil {
		return providers.Result{}, fmt.Errorf("%s status: %w: reasons", c.name, providers.ErrMalformed)
	}
	if res.Checks == nil {
		res.Checks = checks
	}
	if res.Reason.Description == "" {
		res.Reason.Description = text
	}
	return res, nil
}

// kycPath is the verification-kyc path of a subject. Bond has no user_id subjects.
func kycPath(s providers.Subject) (string, error) {
	switch s.Kind() {
	case providers.SubjectCustomer:
		return "/customers/" + url.PathEscape(s.CustomerID) + "/verification-kyc", nil
	case providers.SubjectBeneficialOwner:
		if s.BusinessID == "" {
			return "", &providers.FieldError{Field: "subject.beneficial_owner.business_id", Reason: "required"}
		}
		if s.BeneficialOwnerID == "" {
			return "", &providers.FieldError{Field: "subject.beneficial_owner.beneficial_owner_id", Reason: "required"}
		}
		return "/businesses/" + url.PathEscape(s.BusinessID) + "/beneficial_owners/" +
			url.PathEscape(s.BeneficialOwnerID) + "/verification-kyc", nil
	case providers.SubjectUser:
		return "", &providers.FieldError{Field: "subject", Reason: "user_id subjects are not supported; use customer_id or beneficial_owner"}
	}
	return "", &providers.FieldError{Field: "subject", Reason: "required"}
}

// do sends one request and returns the status and (capped) body. Transport failures,
// timeouts and cancellations wrap ErrUnavailable and keep the cause, so errors.Is(err,
// context.Canceled) still works for a caller that gave up.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body any, idemKey string) (int, []byte, error) {
	u := c.baseURL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, fmt.Errorf("%w: encode request: %v", providers.ErrRejected, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: build request: %v", providers.ErrRejected, err)
	}
	req.Header.Set("Identity", c.identity)
	req.Header.Set("Authorization", c.authorization)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
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
