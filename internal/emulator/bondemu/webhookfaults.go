package bondemu

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync/atomic"
	"time"
)

// DefaultReorderWindow is how long Reorder holds a subject's webhooks after the last one when
// no sequence-ending event arrives.
const DefaultReorderWindow = time.Second

// Bounds of the webhook faults, so a typo in a control request cannot wedge the sandbox.
const (
	maxDuplicate = 100
	maxFaultWait = time.Hour
)

// WebhookFaults are the faults applied to outgoing webhooks. The zero value injects nothing.
// The switches in force when a webhook is sent (for held webhooks: when they are released)
// apply to every attempt of that delivery; Drop is decided when the event occurs.
type WebhookFaults struct {
	// Duplicate delivers each webhook this many extra times, one copy after the other (each
	// copy with its own retries and a fresh signature), so a receiver sees the same event and
	// occurred_at several times.
	Duplicate int
	// Reorder holds each subject's webhooks and delivers them in reverse order. A held batch
	// is released when an event that ends the sequence arrives (success, failure, error,
	// timeout, reenter_information), ReorderWindow after the subject's last held webhook, or
	// when Reorder is switched off. A batch is delivered to each subscription by one sender,
	// one webhook after the other, so the reversed order is the order on the wire.
	Reorder bool
	// ReorderWindow bounds how long a batch without a sequence-ending event is held
	// (default DefaultReorderWindow).
	ReorderWindow time.Duration
	// Delay is added before each delivery (after Options.WebhookDelay).
	Delay time.Duration
	// WrongSecret signs deliveries with a random secret instead of the subscription's. A
	// correct receiver refuses them; they are retried per the normal policy and given up after
	// Options.MaxDeliveryAttempts.
	WrongSecret bool
	// Drop sends nothing at all (the KYC state still changes).
	Drop bool
}

// Validate checks the bounds.
func (f WebhookFaults) Validate() error {
	switch {
	case f.Duplicate < 0 || f.Duplicate > maxDuplicate:
		return fmt.Errorf("bondemu: duplicate must be within 0..%d", maxDuplicate)
	case f.Delay < 0 || f.Delay > maxFaultWait:
		return fmt.Errorf("bondemu: delay must be within 0..%v", maxFaultWait)
	case f.ReorderWindow < 0 || f.ReorderWindow > maxFaultWait:
		return fmt.Errorf("bondemu: reorder_window must be within 0..%v", maxFaultWait)
	}
	return nil
}

// SetWebhookFaults replaces the webhook faults. Switching Reorder off releases every held
// webhook (still reversed: they were held to be reordered).
func (e *Emulator) SetWebhookFaults(f WebhookFaults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.wf = f
	if !f.Reorder {
		keys := make([]string, 0, len(e.held))
		for k := range e.held {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			e.releaseLocked(k)
		}
	}
	return nil
}

// WebhookFaults returns the webhook faults in force.
func (e *Emulator) WebhookFaults() WebhookFaults {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.wf
}

// DeliveryStats counts webhook deliveries since the Emulator was created. A delivery is one
// webhook (or one duplicate copy) to one subscription.
type DeliveryStats struct {
	Attempts  int // POSTs made, retries included
	Delivered int // deliveries answered 200 or 201
	GivenUp   int // deliveries abandoned after Options.MaxDeliveryAttempts
	Dropped   int // events not sent because of the Drop fault
	Held      int // webhooks currently held by the Reorder fault
}

type deliveryCounters struct {
	attempts, delivered, givenUp, dropped atomic.Int64
}

// DeliveryStats returns the delivery counters.
func (e *Emulator) DeliveryStats() DeliveryStats {
	e.mu.Lock()
	held := 0
	for _, b := range e.held {
		held += len(b.items)
	}
	e.mu.Unlock()
	return DeliveryStats{
		Attempts:  int(e.stats.attempts.Load()),
		Delivered: int(e.stats.delivered.Load()),
		GivenUp:   int(e.stats.givenUp.Load()),
		Dropped:   int(e.stats.dropped.Load()),
		Held:      held,
	}
}

// pending is one webhook on its way out.
type pending struct {
	subject string // subject key
	event   string
	body    []byte // compact JSON, the body sent and signed by v2
	py      []byte // Python json.dumps form, signed by v1
}

// heldBatch is one subject's webhooks held by Reorder. gen tells the window timer of an
// earlier webhook that a later one restarted the window.
type heldBatch struct {
	items []pending
	gen   int
}

// endsSequence reports whether, after event, the emulator sends nothing more for the attempt.
func endsSequence(event string) bool {
	switch event {
	case "kyc.verification.success", "kyc.verification.failure", "kyc.verification.error",
		"kyc.verification.timeout", "kyc.verification.reenter_information":
		return true
	}
	return false
}

// publishLocked hands one webhook about subject to delivery, applying the webhook faults.
// e.mu must be held.
func (e *Emulator) publishLocked(subject, event string, payload obj) {
	p := pending{subject: subject, event: event, body: encodeJSON(payload, false), py: encodeJSON(payload, true)}
	switch {
	case e.wf.Drop:
		e.stats.dropped.Add(1)
		e.log.Debug("webhook dropped by fault", "event", event)
	case e.wf.Reorder:
		e.holdLocked(p)
	default:
		e.dispatchLocked([]pending{p})
	}
}

// holdLocked adds p to its subject's batch and releases the batch when p ends the sequence;
// otherwise it (re)starts the batch's window.
func (e *Emulator) holdLocked(p pending) {
	b := e.held[p.subject]
	if b == nil {
		b = &heldBatch{}
		e.held[p.subject] = b
	}
	b.items = append(b.items, p)
	b.gen++
	if endsSequence(p.event) {
		e.releaseLocked(p.subject)
		return
	}
	window := e.wf.ReorderWindow
	if window <= 0 {
		window = DefaultReorderWindow
	}
	gen := b.gen
	e.goAfter(window, func(context.Context) {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.held[p.subject] == b && b.gen == gen {
			e.releaseLocked(p.subject)
		}
	})
}

// releaseLocked sends a subject's held webhooks, newest first.
func (e *Emulator) releaseLocked(subject string) {
	b := e.held[subject]
	if b == nil {
		return
	}
	delete(e.held, subject)
	items := make([]pending, len(b.items))
	for i, p := range b.items {
		items[len(items)-1-i] = p
	}
	e.dispatchLocked(items)
}

// dispatchLocked starts, for every subscription that wants any of items, one sender that
// delivers them in the order given, each with its retries and duplicate copies, after the
// Delay fault. e.mu must be held.
func (e *Emulator) dispatchLocked(items []pending) {
	wf := e.wf
	for _, s := range e.subs {
		var mine []pending
		for _, p := range items {
			if s.matches(p.event) {
				mine = append(mine, p)
			}
		}
		if len(mine) == 0 {
			continue
		}
		target, secret := s.URL, s.Secret
		if wf.WrongSecret {
			secret = newSecret()
		}
		e.goAfter(wf.Delay, func(ctx context.Context) {
			for _, p := range mine {
				for range 1 + wf.Duplicate {
					if ctx.Err() != nil {
						return
					}
					e.deliver(ctx, target, secret, p)
				}
			}
		})
	}
}

// wireWebhookFaults is the control endpoint's JSON form; durations are Go strings.
type wireWebhookFaults struct {
	Duplicate     int    `json:"duplicate"`
	Reorder       bool   `json:"reorder"`
	ReorderWindow string `json:"reorder_window"`
	Delay         string `json:"delay"`
	WrongSecret   bool   `json:"wrong_secret"`
	Drop          bool   `json:"drop"`
}

func (f WebhookFaults) wire() wireWebhookFaults {
	return wireWebhookFaults{Duplicate: f.Duplicate, Reorder: f.Reorder, ReorderWindow: f.ReorderWindow.String(),
		Delay: f.Delay.String(), WrongSecret: f.WrongSecret, Drop: f.Drop}
}

func (w wireWebhookFaults) faults() (WebhookFaults, error) {
	f := WebhookFaults{Duplicate: w.Duplicate, Reorder: w.Reorder, WrongSecret: w.WrongSecret, Drop: w.Drop}
	for _, d := range []struct {
		name string
		in   string
		out  *time.Duration
	}{{"delay", w.Delay, &f.Delay}, {"reorder_window", w.ReorderWindow, &f.ReorderWindow}} {
		if d.in == "" {
			continue
		}
		v, err := time.ParseDuration(d.in)
		if err != nil {
			return f, fmt.Errorf("%s: %w", d.name, err)
		}
		*d.out = v
	}
	return f, f.Validate()
}

// webhookFaultsControl serves /_sandbox/webhook-faults: GET returns the webhook faults, PUT or
// POST replaces all of them (absent fields are zero; unknown fields are refused).
func (e *Emulator) webhookFaultsControl(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, e.WebhookFaults().wire())
	case http.MethodPut, http.MethodPost:
		var wf wireWebhookFaults
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		err := dec.Decode(&wf)
		var f WebhookFaults
		if err == nil {
			f, err = wf.faults()
		}
		if err == nil {
			err = e.SetWebhookFaults(f)
		}
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, f.wire())
	default:
		w.Header().Set("Allow", "GET, PUT, POST")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
	}
}
