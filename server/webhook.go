package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kycgw/kycgw/internal/metrics"
	"github.com/kycgw/kycgw/internal/store"
	"github.com/kycgw/kycgw/internal/telemetry"
	"github.com/kycgw/kycgw/providers"
)

// webhookHandler receives provider webhooks at POST /webhooks/{provider}.
//
// The order is the point: verify the signature on the raw body, then parse, then apply every
// event through the store (which dedupes and enforces forward-only transitions, appending to
// the event log in the same step), and only then answer 200. Any failure before that answers
// 5xx so the provider delivers again; nothing is acknowledged that was not recorded.
func (s *service) webhookHandler(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("provider")
	source := sourceOf(r)
	s.cfg.Metrics.WebhookReceived(name)
	if !s.forgeries.allowed(source) {
		s.cfg.Metrics.WebhookRejected(name, metrics.RejectRateLimited)
		// This source sent too many unverifiable requests recently: refuse before any work.
		w.Header().Set("Retry-After", "60")
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "too many unverified requests"})
		return
	}
	p, err := s.providers.Get(name)
	recv, ok := p.(providers.WebhookReceiver)
	if err != nil || !ok {
		s.cfg.Metrics.WebhookRejected(name, metrics.RejectNoReceiver)
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no webhook receiver for this provider"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.cfg.Metrics.WebhookRejected(name, metrics.RejectTooLarge)
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "body too large"})
			return
		}
		s.cfg.Metrics.WebhookRejected(name, metrics.RejectUnreadable)
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "reading body"})
		return
	}
	now := s.cfg.Now()
	notes, err := recv.ParseWebhook(r.Header, body, now)
	switch {
	case errors.Is(err, providers.ErrBadSignature):
		n := s.forgeries.failed(source)
		s.cfg.Metrics.WebhookRejected(name, metrics.RejectBadSignature)
		s.log.Warn("webhook rejected: bad signature", "provider", name, "unverified_total", n)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid signature"})
		return
	case errors.Is(err, providers.ErrUnknownStatus):
		// Not recorded, so not acknowledged: the provider keeps the event and delivers it again,
		// by which time the gateway may know the status.
		s.log.Error("webhook with an unknown provider status", "provider", name, "err", err)
		s.cfg.Metrics.WebhookRejected(name, metrics.RejectUnknownStatus)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "unknown provider status"})
		return
	case err != nil:
		s.log.Warn("webhook rejected: malformed", "provider", name, "err", err)
		s.cfg.Metrics.WebhookRejected(name, metrics.RejectMalformed)
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "malformed webhook"})
		return
	}
	s.cfg.Metrics.WebhookVerified(name)

	for _, n := range notes {
		if err := s.applyNotification(r, name, n); err != nil {
			s.log.Error("webhook not recorded; the provider will retry", "provider", name, "event", n.Event, "err", err)
			s.cfg.Metrics.WebhookRejected(name, metrics.RejectNotRecorded)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "not recorded; retry"})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]bool{"received": true})
}

func (s *service) applyNotification(r *http.Request, provider string, n providers.Notification) error {
	ctx := r.Context()
	vid, err := s.store.Lookup(ctx, provider, n.Subject.Key())
	if errors.Is(err, store.ErrNotFound) {
		// A verification not started through this gateway: nothing to attribute it to.
		s.log.Warn("webhook for a subject with no verification; acknowledged and dropped",
			"provider", provider, "event", n.Event)
		return nil
	}
	if err != nil {
		return err
	}
	telemetry.SetVerificationID(ctx, vid)
	applied, err := s.store.Apply(ctx, store.Update{
		VerificationID: vid,
		Result:         n.Result,
		Source:         store.SourceWebhook,
		ProviderEvent:  n.Event,
		ReceivedAt:     s.cfg.Now(),
		DedupeKey:      "webhook:" + provider + ":" + n.DedupeKey,
		DedupeTTL:      s.cfg.WebhookDedupeTTL,
	})
	if err != nil {
		return err
	}
	s.cfg.Metrics.WebhookApplied(provider, applied)
	s.log.Info("webhook applied", "provider", provider, "event", n.Event, "verification_id", vid,
		"duplicate", applied.Duplicate, "stale", applied.Stale, "status", applied.Verification.Status.String())
	if applied.Stale && !applied.Verification.Status.Terminal() {
		s.reconcile(ctx, provider, applied.Verification)
	}
	return nil
}

// reconcile treats an out-of-order webhook as a hint: the provider's own current status is
// read and applied, so a delivery that arrived late or early cannot leave the verification
// behind. A failed read changes nothing; the webhook itself is already handled.
func (s *service) reconcile(ctx context.Context, provider string, v store.Verification) {
	p, err := s.providers.Get(provider)
	if err != nil {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.ProviderTimeout)
	res, err := s.providerStatus(rctx, p, metrics.OpStatus, providers.StatusInput{ProgramID: v.ProgramID, Subject: v.Subject})
	cancel()
	if err != nil {
		s.log.Warn("reading status after an out-of-order webhook", "provider", provider, "verification_id", v.ID, "err", err)
		return
	}
	applied, err := s.store.Apply(ctx, store.Update{
		VerificationID: v.ID, Result: withoutSDKToken(res), Source: store.SourcePoll,
		ProviderEvent: res.ProviderStatus, ReceivedAt: s.cfg.Now(),
	})
	if err == nil && applied.Event != nil {
		s.log.Info("status read after an out-of-order webhook changed the verification", "verification_id", v.ID,
			"status", applied.Verification.Status.String())
	}
}

// sourceOf is the peer address of a request. Forwarded-for headers are not trusted: anyone can
// send them.
func sourceOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// forgeryLimiter counts unverifiable webhook requests per source in fixed one-minute windows and
// refuses sources over the limit until the window ends. Memory is bounded by the window: the
// table is dropped whole when it ends.
type forgeryLimiter struct {
	limit int
	now   func() time.Time

	mu     sync.Mutex
	window time.Time
	counts map[string]int
	total  atomic.Int64
}

func (l *forgeryLimiter) roll() {
	if now := l.now(); now.Sub(l.window) >= time.Minute || l.counts == nil {
		l.window, l.counts = now, map[string]int{}
	}
}

func (l *forgeryLimiter) allowed(source string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.roll()
	return l.counts[source] < l.limit
}

// failed records an unverifiable request and returns how many there have been in total.
func (l *forgeryLimiter) failed(source string) int64 {
	l.mu.Lock()
	l.roll()
	l.counts[source]++
	l.mu.Unlock()
	return l.total.Add(1)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
