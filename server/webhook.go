package server

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/kycgw/kycgw/internal/store"
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
	p, err := s.providers.Get(name)
	recv, ok := p.(providers.WebhookReceiver)
	if err != nil || !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no webhook receiver for this provider"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "body too large"})
			return
		}
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "reading body"})
		return
	}
	now := s.cfg.Now()
	notes, err := recv.ParseWebhook(r.Header, body, now)
	switch {
	case errors.Is(err, providers.ErrBadSignature):
		s.log.Warn("webhook rejected: bad signature", "provider", name)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid signature"})
		return
	case errors.Is(err, providers.ErrUnknownStatus):
		// Not recorded, so not acknowledged: the provider keeps the event and delivers it again,
		// by which time the gateway may know the status.
		s.log.Error("webhook with an unknown provider status", "provider", name, "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "unknown provider status"})
		return
	case err != nil:
		s.log.Warn("webhook rejected: malformed", "provider", name, "err", err)
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "malformed webhook"})
		return
	}

	for _, n := range notes {
		if err := s.applyNotification(r, name, n); err != nil {
			s.log.Error("webhook not recorded; the provider will retry", "provider", name, "event", n.Event, "err", err)
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
	s.log.Info("webhook applied", "provider", provider, "event", n.Event, "verification_id", vid,
		"duplicate", applied.Duplicate, "stale", applied.Stale, "status", applied.Verification.Status.String())
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
