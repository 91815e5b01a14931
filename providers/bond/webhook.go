package bond

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kycgw/kycgw/providers"
)

// SignatureHeader is the header Bond and Atelio sign webhooks with.
const SignatureHeader = "Bond-Signature"

// ParseWebhook verifies the Bond-Signature of one delivery over the raw body, then parses it.
// It returns no notifications and no error for events outside the kyc.* family (the same
// subscription may carry card.*, kyb.* or customer.updated), so the caller acknowledges them.
// now is the receive time used for the timestamp tolerance; zero means the Client's clock.
func (c *Client) ParseWebhook(h http.Header, body []byte, now time.Time) ([]providers.Notification, error) {
	if len(body) > maxBody {
		return nil, fmt.Errorf("%s webhook: %w: body larger than %d bytes", c.name, providers.ErrMalformed, maxBody)
	}
	if now.IsZero() {
		now = c.now()
	}
	if err := c.verify(h.Values(SignatureHeader), body, now); err != nil {
		return nil, fmt.Errorf("%s webhook: %w", c.name, err)
	}
	n, ok, err := c.parsePayload(body)
	if err != nil {
		return nil, fmt.Errorf("%s webhook: %w", c.name, err)
	}
	if !ok {
		return nil, nil
	}
	return []providers.Notification{n}, nil
}

// verify checks `Bond-Signature: t=<unix>,v1=<hex>,v2=<hex>` as Bond documents it:
// HMAC-SHA256 keyed with the UTF-8 bytes of the whole secret string ("whsec_" included, no
// base64 decoding) over "{t}.{body}", lowercase hex. v2 is computed over the raw body and is
// the one to trust; v1 is over Python's json.dumps form of the payload, which a Go receiver
// cannot reproduce byte for byte, so v1 is checked against the raw body only when no v2 was
// sent. Several v1/v2 entries (a rotation) are accepted when any one matches.
func (c *Client) verify(headers []string, body []byte, now time.Time) error {
	sp := c.secret.Load()
	if sp == nil || *sp == "" {
		return fmt.Errorf("%w: no webhook secret configured", providers.ErrBadSignature)
	}
	if len(headers) == 0 {
		return fmt.Errorf("%w: missing %s header", providers.ErrBadSignature, SignatureHeader)
	}
	var ts string
	var v1, v2 [][]byte
	for _, hv := range headers {
		for _, part := range strings.Split(hv, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok {
				return fmt.Errorf("%w: garbled %s header", providers.ErrBadSignature, SignatureHeader)
			}
			switch k {
			case "t":
				if ts != "" {
					return fmt.Errorf("%w: two timestamps", providers.ErrBadSignature)
				}
				ts = v
			case "v1", "v2":
				mac, err := hex.DecodeString(v)
				if err != nil || len(mac) != sha256.Size {
					return fmt.Errorf("%w: %s is not a hex SHA-256", providers.ErrBadSignature, k)
				}
				if k == "v1" {
					v1 = append(v1, mac)
				} else {
					v2 = append(v2, mac)
				}
			}
			// Unknown keys are skipped: a future v3 must not break verification of v2.
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: missing or bad timestamp", providers.ErrBadSignature)
	}
	// Compare in seconds so an absurd timestamp cannot overflow a time.Duration.
	if skew := now.Unix() - sec; skew > int64(c.tolerance/time.Second) || -skew > int64(c.tolerance/time.Second) {
		return fmt.Errorf("%w: timestamp outside tolerance", providers.ErrBadSignature)
	}
	candidates := v2
	if len(v2) == 0 {
		candidates = v1
	}
	if len(candidates) == 0 {
		return fmt.Errorf("%w: no v1 or v2 signature", providers.ErrBadSignature)
	}
	m := hmac.New(sha256.New, []byte(*sp))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	want := m.Sum(nil)
	for _, got := range candidates {
		if hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: signature mismatch", providers.ErrBadSignature)
}

// parsePayload turns a verified body into a Notification. ok is false for events this adapter
// does not handle (non-kyc families).
func (c *Client) parsePayload(body []byte) (n providers.Notification, ok bool, err error) {
	var p webhookPayload
	if err := decodeJSON(body, &p); err != nil {
		return n, false, fmt.Errorf("%w: %v", providers.ErrMalformed, err)
	}
	if p.Event == "" {
		return n, false, fmt.Errorf("%w: no event", providers.ErrMalformed)
	}
	if !isKYCEvent(p.Event) {
		return n, false, nil
	}
	st, err := mapEvent(c.name, p.Event)
	if err != nil {
		return n, false, err
	}
	switch {
	case p.CustomerID != "":
		n.Subject.CustomerID = p.CustomerID
	case p.BeneficialOwnerID != "":
		// Beneficial-owner webhooks carry no business_id (none of the documented payloads
		// has one), so only BeneficialOwnerID is set; consumers match on it alone. A
		// business_id is kept if Bond ever sends one.
		n.Subject.BeneficialOwnerID = p.BeneficialOwnerID
		n.Subject.BusinessID = p.BusinessID
	default:
		return n, false, fmt.Errorf("%w: no customer_id or beneficial_owner_id", providers.ErrMalformed)
	}
	res := providers.Result{Status: st, ProviderStatus: p.Event}
	occurred := ""
	if p.OccurredAt != nil && *p.OccurredAt != "" {
		t, err := parseTime(*p.OccurredAt)
		if err != nil {
			return n, false, fmt.Errorf("%w: occurred_at", providers.ErrMalformed)
		}
		res.OccurredAt = t
		occurred = t.UTC().Format(time.RFC3339Nano)
	}
	if st == providers.StatusPassed {
		res.PassedAt = res.OccurredAt
	}
	checks, text, err := reasonsOf(p.Reasons)
	if err != nil {
		return n, false, fmt.Errorf("%w: reasons", providers.ErrMalformed)
	}
	res.Checks = checks
	res.Reason = providers.Reason{Code: p.ErrorCode, Description: p.Description}
	if res.Reason.Description == "" {
		res.Reason.Description = text
	}

	fields := p.Fields
	if len(fields) == 0 {
		if fields, err = stringList(p.IncorrectInformation); err != nil {
			return n, false, fmt.Errorf("%w: incorrect_information", providers.ErrMalformed)
		}
	}
	switch {
	case len(p.Documents) > 0 || st == providers.StatusDocumentsRequired:
		res.NextAction.Kind = providers.ActionUploadDocuments
		for _, d := range p.Documents {
			res.NextAction.Documents = append(res.NextAction.Documents, providers.Document{
				Type: d.DocumentType, Status: d.Status, UploadLink: d.UploadLink,
			})
		}
	case len(fields) > 0 || st == providers.StatusReenterInformation:
		res.NextAction = providers.NextAction{Kind: providers.ActionReenterInformation, Fields: fields}
	default:
		res.NextAction = nextActionFor(st)
	}

	n.ProgramID = p.ProgramID
	n.Event = p.Event
	n.Result = res
	// Bond has no event id; it recommends event + occurred_at. The instance name and subject
	// make the key unique across instances and subjects; without occurred_at
	// (reenter_information) the body's hash stands in, which is stable across retries.
	if occurred == "" {
		sum := sha256.Sum256(body)
		occurred = "sha256:" + hex.EncodeToString(sum[:])
	}
	n.DedupeKey = c.name + "|" + p.Event + "|" + n.Subject.Key() + "|" + occurred
	return n, true, nil
}

// SubscribeWebhook creates a subscription for all kyc.* events delivered to url, and starts
// verifying webhooks with the secret the provider returns. Both documented response shapes
// (nested "webhook_subscription" and flat with "webhook_id") are accepted.
func (c *Client) SubscribeWebhook(ctx context.Context, url string) error {
	if url == "" {
		return fmt.Errorf("%s subscribe webhook: url is required", c.name)
	}
	req := subscribeRequest{
		URL:         url,
		Description: "kycgw",
		Events:      []string{"kyc.*"},
		Version:     "0.1",
		Status:      "STATUS_ENABLED",
	}
	status, body, err := c.do(ctx, http.MethodPost, "/webhooks", nil, req, "")
	if err != nil {
		return fmt.Errorf("%s subscribe webhook: %w", c.name, err)
	}
	if status < 200 || status > 299 {
		ae := parseError(c.name, status, body, nil)
		if ae.class != classUnavailable && ae.class != classMalformed {
			ae.class = classRejected // a refused subscription is our configuration's fault
		}
		return fmt.Errorf("%s subscribe webhook: %w", c.name, ae)
	}
	var resp subscribeResponse
	if err := decodeJSON(body, &resp); err != nil {
		return fmt.Errorf("%s subscribe webhook: %w: %v", c.name, providers.ErrMalformed, err)
	}
	secret := resp.Secret
	if resp.WebhookSubscription != nil && resp.WebhookSubscription.Secret != "" {
		secret = resp.WebhookSubscription.Secret
	}
	if secret == "" {
		return fmt.Errorf("%s subscribe webhook: %w: response has no secret", c.name, providers.ErrMalformed)
	}
	c.secret.Store(&secret)
	return nil
}
