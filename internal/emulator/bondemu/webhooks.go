package bondemu

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path"
	"time"
)

// subscription is one webhook subscription, in the documented field order and names.
type subscription struct {
	ID          string   `json:"id"`
	URL         string   `json:"url"`
	Description string   `json:"description"`
	Events      []string `json:"events"`
	Version     string   `json:"version"`
	Secret      string   `json:"secret"`
	Status      string   `json:"status"`
	CreatedTime string   `json:"created_time"`
	UpdatedTime string   `json:"updated_time"`
}

// matches reports whether the subscription wants event. Patterns follow path.Match, so
// "kyc.*" and "card*" work as Bond documents them.
func (s *subscription) matches(event string) bool {
	if s.Status != "STATUS_ENABLED" {
		return false
	}
	for _, p := range s.Events {
		if p == event {
			return true
		}
		if ok, err := path.Match(p, event); err == nil && ok {
			return true
		}
	}
	return false
}

// newSecret is "whsec_" + base64 of 24 random bytes (32 characters), Bond's format.
func newSecret() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "whsec_" + base64.StdEncoding.EncodeToString(b[:])
}

// subscriptionInput is a POST or PATCH body; pointers tell "absent" from "empty".
type subscriptionInput struct {
	URL         *string   `json:"url"`
	CallbackURL *string   `json:"callback_url"` // Bond v0's name for url
	Description *string   `json:"description"`
	Events      *[]string `json:"events"`
	Version     *string   `json:"version"`
	Status      *string   `json:"status"`
}

func (in *subscriptionInput) validate(create bool) map[string][]string {
	errs := map[string][]string{}
	if in.URL == nil {
		in.URL = in.CallbackURL
	}
	if in.URL == nil && create {
		errs["url"] = []string{"Missing data for required field."}
	}
	if in.URL != nil {
		u, err := url.Parse(*in.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs["url"] = []string{"Not a valid URL."}
		}
	}
	if in.Events == nil && create {
		errs["events"] = []string{"Missing data for required field."}
	}
	if in.Events != nil && len(*in.Events) == 0 {
		errs["events"] = []string{"Shorter than minimum length 1."}
	}
	if in.Status != nil && *in.Status != "STATUS_ENABLED" && *in.Status != "STATUS_DISABLED" {
		errs["status"] = []string{"Must be one of: STATUS_ENABLED, STATUS_DISABLED."}
	}
	return errs
}

func decodeSubscription(w http.ResponseWriter, r *http.Request, create bool) (subscriptionInput, bool) {
	var in subscriptionInput
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeFieldErrors(w, "webhooks_err", map[string][]string{"_schema": {"Invalid input type."}})
		return in, false
	}
	if errs := in.validate(create); len(errs) > 0 {
		writeFieldErrors(w, "webhooks_err", errs)
		return in, false
	}
	return in, true
}

func (e *Emulator) createWebhook(w http.ResponseWriter, r *http.Request) {
	in, ok := decodeSubscription(w, r, true)
	if !ok {
		return
	}
	now := e.now().UTC().Format("2006-01-02T15:04:05.000000Z")
	s := &subscription{
		ID: newUUID(), URL: *in.URL, Events: append([]string(nil), *in.Events...),
		Version: "0.1", Secret: newSecret(), Status: "STATUS_ENABLED", CreatedTime: now, UpdatedTime: now,
	}
	if in.Description != nil {
		s.Description = *in.Description
	}
	if in.Version != nil {
		s.Version = *in.Version
	}
	if in.Status != nil {
		s.Status = *in.Status
	}
	e.mu.Lock()
	e.subs = append(e.subs, s)
	cp := *s
	e.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{"webhook_subscription": cp})
}

func (e *Emulator) listWebhooks(w http.ResponseWriter, _ *http.Request) {
	e.mu.Lock()
	list := make([]subscription, 0, len(e.subs))
	for _, s := range e.subs {
		list = append(list, *s)
	}
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"webhook_subscriptions": list})
}

// findLocked returns the index of subscription id, or -1.
func (e *Emulator) findLocked(id string) int {
	for i, s := range e.subs {
		if s.ID == id {
			return i
		}
	}
	return -1
}

func writeNoSubscription(w http.ResponseWriter) {
	writeEnvelope(w, http.StatusNotFound, "webhooks_err", "Webhook subscription does not exist.")
}

func (e *Emulator) getWebhook(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	i := e.findLocked(r.PathValue("id"))
	var cp subscription
	if i >= 0 {
		cp = *e.subs[i]
	}
	e.mu.Unlock()
	if i < 0 {
		writeNoSubscription(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhook_subscription": cp})
}

// patchWebhook replaces the fields sent; an events list replaces the stored one.
func (e *Emulator) patchWebhook(w http.ResponseWriter, r *http.Request) {
	in, ok := decodeSubscription(w, r, false)
	if !ok {
		return
	}
	e.mu.Lock()
	i := e.findLocked(r.PathValue("id"))
	if i < 0 {
		e.mu.Unlock()
		writeNoSubscription(w)
		return
	}
	s := e.subs[i]
	if in.URL != nil {
		s.URL = *in.URL
	}
	if in.Description != nil {
		s.Description = *in.Description
	}
	if in.Events != nil {
		s.Events = append([]string(nil), *in.Events...)
	}
	if in.Version != nil {
		s.Version = *in.Version
	}
	if in.Status != nil {
		s.Status = *in.Status
	}
	s.UpdatedTime = e.now().UTC().Format("2006-01-02T15:04:05.000000Z")
	cp := *s
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"webhook_subscription": cp})
}

// deleteWebhook removes a subscription and returns it. Deliveries already under way finish.
func (e *Emulator) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	i := e.findLocked(r.PathValue("id"))
	if i < 0 {
		e.mu.Unlock()
		writeNoSubscription(w)
		return
	}
	cp := *e.subs[i]
	e.subs = append(e.subs[:i:i], e.subs[i+1:]...)
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"webhook_subscription": cp})
}

// deliver POSTs one webhook until the receiver answers 200 or 201, MaxDeliveryAttempts are
// spent, or the emulator closes. Each attempt is signed afresh, so a late retry is not refused
// for an old timestamp.
func (e *Emulator) deliver(ctx context.Context, target, secret string, p pending) {
	backoff := e.opts.RetryBackoff
	for attempt := 1; ; attempt++ {
		e.stats.attempts.Add(1)
		status, err := e.post(ctx, target, secret, p.body, p.py)
		if err == nil && (status == http.StatusOK || status == http.StatusCreated) {
			e.stats.delivered.Add(1)
			e.log.Debug("webhook delivered", "event", p.event, "attempt", attempt)
			return
		}
		if ctx.Err() != nil {
			return
		}
		if attempt >= e.opts.MaxDeliveryAttempts {
			e.stats.givenUp.Add(1)
			e.log.Warn("webhook given up", "event", p.event, "attempts", attempt, "status", status, "err", err)
			return
		}
		e.log.Debug("webhook retry", "event", p.event, "attempt", attempt, "status", status, "err", err, "backoff", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
		backoff *= 2
	}
}

func (e *Emulator) post(ctx context.Context, target, secret string, body, py []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Bond-Signature", signatureHeader(secret, e.now().Unix(), body, py))
	resp, err := e.hc.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}
