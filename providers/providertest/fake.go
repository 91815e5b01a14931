// Package providertest holds what tests of providers need: Run, the conformance suite every
// adapter passes against its emulator, and Fake, a scriptable provider for tests of the server.
package providertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/kycgw/kycgw/providers"
)

// Fake is a scriptable in-process provider. OnStart and OnStatus decide each call's outcome;
// by default Start submits (PENDING) and Status reports NOT_STARTED.
type Fake struct {
	ProviderName string
	OnStart      func(ctx context.Context, in providers.StartInput) (providers.Result, error)
	OnStatus     func(ctx context.Context, in providers.StatusInput) (providers.Result, error)

	mu       sync.Mutex
	starts   []providers.StartInput
	statuses []providers.StatusInput
}

var _ providers.Provider = (*Fake)(nil)

// Name implements providers.Provider.
func (f *Fake) Name() string { return f.ProviderName }

// Start implements providers.Provider and records the call.
func (f *Fake) Start(ctx context.Context, in providers.StartInput) (providers.Result, error) {
	f.mu.Lock()
	f.starts = append(f.starts, in)
	f.mu.Unlock()
	if f.OnStart != nil {
		return f.OnStart(ctx, in)
	}
	return providers.Result{Status: providers.StatusPending, ProviderStatus: "submitted", Submitted: true}, nil
}

// Status implements providers.Provider.
func (f *Fake) Status(ctx context.Context, in providers.StatusInput) (providers.Result, error) {
	f.mu.Lock()
	f.statuses = append(f.statuses, in)
	f.mu.Unlock()
	if f.OnStatus != nil {
		return f.OnStatus(ctx, in)
	}
	return providers.Result{Status: providers.StatusNotStarted, ProviderStatus: "not_started"}, nil
}

// Starts returns the inputs of every Start call so far.
func (f *Fake) Starts() []providers.StartInput {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]providers.StartInput(nil), f.starts...)
}

// StatusCalls returns the inputs of every Status call so far.
func (f *Fake) StatusCalls() []providers.StatusInput {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]providers.StatusInput(nil), f.statuses...)
}

// PollingFake is a Fake without webhooks: the gateway polls its Status.
type PollingFake struct {
	Fake
	Interval time.Duration
}

var _ providers.Poller = (*PollingFake)(nil)

// PollInterval implements providers.Poller.
func (f *PollingFake) PollInterval() time.Duration { return f.Interval }

// WebhookFake is a Fake that receives webhooks: a JSON body {"customer_id","status","event",
// "occurred_at"} is accepted when the X-Fake-Signature header is "valid". It exists to test what
// the server does with notifications; signature schemes are the real adapters' business.
type WebhookFake struct {
	Fake
}

var _ providers.WebhookReceiver = (*WebhookFake)(nil)

// ParseWebhook implements providers.WebhookReceiver.
func (f *WebhookFake) ParseWebhook(h http.Header, body []byte, now time.Time) ([]providers.Notification, error) {
	if h.Get("X-Fake-Signature") != "valid" {
		return nil, providers.ErrBadSignature
	}
	var w struct {
		CustomerID string           `json:"customer_id"`
		Status     providers.Status `json:"status"`
		Event      string           `json:"event"`
		OccurredAt time.Time        `json:"occurred_at"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", providers.ErrMalformed, err)
	}
	return []providers.Notification{{
		Subject:   providers.Subject{CustomerID: w.CustomerID},
		Event:     w.Event,
		Result:    providers.Result{Status: w.Status, ProviderStatus: w.Event, OccurredAt: w.OccurredAt},
		DedupeKey: w.Event + "|" + w.CustomerID + "|" + w.OccurredAt.String(),
	}}, nil
}
