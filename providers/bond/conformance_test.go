package bond_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kycgw/kycgw/internal/emulator/bondemu"
	"github.com/kycgw/kycgw/providers"
	"github.com/kycgw/kycgw/providers/bond"
	"github.com/kycgw/kycgw/providers/providertest"
)

// instance is one configured Bond-family provider: the same adapter, another name and key.
type instance struct {
	name, identity, authorization string
}

var (
	bondInstance   = instance{"bond", "e6b234b4-650e-48e4-93eb-6550a07cc075", "MLF0su9R5m9cpaOSRk/vY8/VqCVGWy/AV/qdZMPG/6s58beK6WKyZ8D4W6jemiUY"}
	atelioInstance = instance{"atelio", "5b0f6a7e-3c1d-4e8f-9a2b-7c6d5e4f3a21", "aTeLiO+sandbox/key/0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH"}
)

// ssnFor are the emulator's magic SSNs (see package bondemu) by conformance outcome. Bond has
// no resubmit-with-attempts state.
var ssnFor = map[providertest.Outcome]string{
	providertest.Passed:             "123-45-6789",
	providertest.Failed:             "666-66-6666",
	providertest.DocumentsRequired:  "111-11-1111",
	providertest.ReenterInformation: "555-55-5555",
	providertest.UnderReview:        "000-00-0000",
	providertest.Error:              "777-77-7777",
	providertest.Expired:            "888-88-8888",
}

// conformanceEnv is one instance's emulator under httptest, the adapter talking to it, and a
// webhook receiver that verifies every delivery with the adapter and feeds Await.
type conformanceEnv struct {
	inst   instance
	owners bool // subjects are beneficial owners instead of customers
	emu    *bondemu.Emulator
	api    *httptest.Server
	hc     *http.Client
	client *bond.Client

	mu    sync.Mutex
	notes map[string][]providers.Notification // by subject key
	errs  []error
}

func newConformanceEnv(t *testing.T, inst instance, owners bool) *conformanceEnv {
	t.Helper()
	env := &conformanceEnv{inst: inst, owners: owners, notes: map[string][]providers.Notification{}}
	env.emu = bondemu.New(bondemu.Options{
		Identity: inst.identity, Authorization: inst.authorization,
		WebhookDelay: 20 * time.Millisecond, RetryBackoff: 5 * time.Millisecond, MaxDeliveryAttempts: 3,
	})
	env.api = httptest.NewServer(env.emu)
	rcv := httptest.NewServer(http.HandlerFunc(env.receive))
	tr := &http.Transport{}
	env.hc = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	t.Cleanup(func() {
		env.emu.Close() // stops deliveries before the receiver goes away
		rcv.Close()
		env.api.Close()
		tr.CloseIdleConnections()
	})
	c, err := bond.New(bond.Config{
		Name: inst.name, BaseURL: env.api.URL + "/api/v0.1", Identity: inst.identity, Authorization: inst.authorization,
		HTTPClient: env.hc,
	})
	if err != nil {
		t.Fatal(err)
	}
	env.client = c
	if err := c.SubscribeWebhook(context.Background(), rcv.URL+"/webhooks/"+inst.name); err != nil {
		t.Fatalf("SubscribeWebhook: %v", err)
	}
	return env
}

// receive is the gateway's webhook endpoint in miniature: verify and parse with the adapter,
// 401 for a bad signature, 400 for anything else refused, 200 otherwise.
func (env *conformanceEnv) receive(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ns, err := env.client.ParseWebhook(r.Header, body, time.Now())
	env.mu.Lock()
	defer env.mu.Unlock()
	if err != nil {
		env.errs = append(env.errs, err)
		if errors.Is(err, providers.ErrBadSignature) {
			w.WriteHeader(http.StatusUnauthorized)
		} else {
			w.WriteHeader(http.StatusBadRequest)
		}
		return
	}
	for _, n := range ns {
		env.notes[n.Subject.Key()] = append(env.notes[n.Subject.Key()], n)
	}
	w.WriteHeader(http.StatusOK)
}

func (env *conformanceEnv) harness() providertest.Harness {
	return providertest.Harness{
		Provider:    env.client,
		Scenario:    env.scenario,
		Await:       env.await,
		Faults:      env.emu.Faults(),
		Submissions: env.emu.Submissions,
		Invalid:     env.invalid,
		ForceUnknown: func(t *testing.T, in providers.StartInput) {
			env.force(t, in, "pending_manual_review", "kyc.verification.pending_manual_review")
		},
		WebhookErrors: func() []error {
			env.mu.Lock()
			defer env.mu.Unlock()
			return append([]error(nil), env.errs...)
		},
	}
}

func (env *conformanceEnv) subject() providers.Subject {
	if env.owners {
		return providers.Subject{BusinessID: providertest.NewUUID(), BeneficialOwnerID: providertest.NewUUID()}
	}
	return providers.Subject{CustomerID: providertest.NewUUID()}
}

func (env *conformanceEnv) scenario(_ *testing.T, o providertest.Outcome) (providers.StartInput, bool) {
	ssn, ok := ssnFor[o]
	if !ok {
		return providers.StartInput{}, false
	}
	return providers.StartInput{
		ProgramID: program,
		Subject:   env.subject(),
		Applicant: providers.Applicant{SSN: ssn, Phone: "555-111-2222", PhoneCountryCode: "1", Email: "nick@example.com", IP: "192.168.1.139"},
	}, true
}

// await waits for a webhook about the subject with status want.
func (env *conformanceEnv) await(t *testing.T, in providers.StartInput, want providers.Status) providers.Result {
	t.Helper()
	key := in.Subject.Key()
	deadline := time.Now().Add(10 * time.Second)
	for {
		env.mu.Lock()
		notes := append([]providers.Notification(nil), env.notes[key]...)
		env.mu.Unlock()
		for _, n := range notes {
			if n.Result.Status == want {
				return n.Result
			}
		}
		if time.Now().After(deadline) {
			var got []string
			for _, n := range notes {
				got = append(got, n.Event+"="+n.Result.Status.String())
			}
			t.Fatalf("no %v webhook for %s within 10s; got %v", want, key, got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (env *conformanceEnv) invalid(*testing.T) []providertest.InvalidInput {
	mk := func(name, field string, mod func(*providers.StartInput)) providertest.InvalidInput {
		in, _ := env.scenario(nil, providertest.Passed)
		mod(&in)
		return providertest.InvalidInput{Name: name, In: in, Field: field}
	}
	return []providertest.InvalidInput{
		mk("ssn_format", "applicant.ssn", func(in *providers.StartInput) { in.Applicant.SSN = "12-3456-789" }),
		mk("ssn_missing", "applicant.ssn", func(in *providers.StartInput) { in.Applicant.SSN = "" }),
		mk("email", "applicant.email", func(in *providers.StartInput) { in.Applicant.Email = "nick.example.com" }),
		mk("ipv6", "applicant.ip", func(in *providers.StartInput) { in.Applicant.IP = "2001:db8::1" }),
		mk("phone", "applicant.phone", func(in *providers.StartInput) { in.Applicant.Phone = "+1 555 111" }),
		mk("program", "program_id", func(in *providers.StartInput) { in.ProgramID = "program-1" }),
	}
}

// force sets a raw kyc_status (and sends event) through the emulator's sandbox control.
func (env *conformanceEnv) force(t *testing.T, in providers.StartInput, status, event string) {
	t.Helper()
	body := map[string]string{"program_id": in.ProgramID, "kyc_status": status, "event": event}
	if env.owners {
		body["beneficial_owner_id"] = in.Subject.BeneficialOwnerID
	} else {
		body["customer_id"] = in.Subject.CustomerID
	}
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, env.api.URL+"/_sandbox/kyc-status", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Identity", env.inst.identity)
	req.Header.Set("Authorization", env.inst.authorization)
	resp, err := env.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		rb, _ := io.ReadAll(resp.Body)
		t.Fatalf("force %s: got %d %s", status, resp.StatusCode, rb)
	}
}

// TestConformance runs the providertest suite for customers and beneficial owners of a "bond"
// instance and for customers of an "atelio" instance: the same adapter type, configured with
// another name and key, each against its own emulator.
func TestConformance(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		inst   instance
		owners bool
	}{
		{"bond/customer", bondInstance, false},
		{"bond/beneficial_owner", bondInstance, true},
		{"atelio/customer", atelioInstance, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			providertest.Run(t, newConformanceEnv(t, tc.inst, tc.owners).harness())
		})
	}
}

// Two instances of the one adapter share nothing: neither's key opens the other's API,
// neither verifies the other's webhooks, and everything they report names the instance.
func TestInstancesAreIsolated(t *testing.T) {
	t.Parallel()
	bondEnv := newConformanceEnv(t, bondInstance, false)
	atelioEnv := newConformanceEnv(t, atelioInstance, false)
	ctx := context.Background()

	// The atelio key at the bond emulator.
	cross, err := bond.New(bond.Config{Name: "atelio", BaseURL: bondEnv.api.URL + "/api/v0.1",
		Identity: atelioInstance.identity, Authorization: atelioInstance.authorization, HTTPClient: bondEnv.hc})
	if err != nil {
		t.Fatal(err)
	}
	in, _ := bondEnv.scenario(t, providertest.Passed)
	var ae *bond.APIError
	if _, err := cross.Start(ctx, in); !errors.Is(err, providers.ErrRejected) || !errors.As(err, &ae) || ae.Code != "auth_err" {
		t.Errorf("atelio key at bond: got %v, want ErrRejected auth_err", err)
	}

	// An atelio delivery, verified by each instance.
	in, _ = atelioEnv.scenario(t, providertest.Passed)
	if _, err := atelioEnv.client.Start(ctx, in); err != nil {
		t.Fatal(err)
	}
	atelioEnv.await(t, in, providers.StatusPassed)
	atelioEnv.mu.Lock()
	note := atelioEnv.notes[in.Subject.Key()][0]
	atelioEnv.mu.Unlock()
	if !strings.HasPrefix(note.DedupeKey, "atelio|") {
		t.Errorf("DedupeKey %q does not name the atelio instance", note.DedupeKey)
	}
	body := []byte(`{"event":"kyc.verification.success","customer_id":"` + in.Subject.CustomerID + `","occurred_at":"2021-10-20T10:27:20.154286+00:00"}`)
	sig := signLike(t, atelioEnv, body)
	if _, err := bondEnv.client.ParseWebhook(sig, body, time.Now()); !errors.Is(err, providers.ErrBadSignature) {
		t.Errorf("bond verifying an atelio-signed webhook: got %v, want ErrBadSignature", err)
	}
	if ns, err := atelioEnv.client.ParseWebhook(sig, body, time.Now()); err != nil || len(ns) != 1 {
		t.Errorf("atelio verifying its own webhook: got %v, %v", ns, err)
	}
}

// signLike signs body as env's emulator does for its subscription, reading the secret from
// the emulator's subscription list.
func signLike(t *testing.T, env *conformanceEnv, body []byte) http.Header {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, env.api.URL+"/api/v0.1/webhooks", nil)
	req.Header.Set("Identity", env.inst.identity)
	req.Header.Set("Authorization", env.inst.authorization)
	resp, err := env.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Subs []struct {
			Secret string `json:"secret"`
		} `json:"webhook_subscriptions"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || len(list.Subs) != 1 {
		t.Fatalf("list subscriptions: %v %+v", err, list)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	m := hmac.New(sha256.New, []byte(list.Subs[0].Secret))
	m.Write([]byte(ts + "." + string(body)))
	h := http.Header{}
	h.Set(bond.SignatureHeader, "t="+ts+",v2="+hex.EncodeToString(m.Sum(nil)))
	return h
}
