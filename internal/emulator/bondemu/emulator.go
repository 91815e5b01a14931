package bondemu

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/kycgw/kycgw/internal/emulator/faults"
)

// Defaults for zero Options fields.
const (
	DefaultWebhookDelay        = 300 * time.Millisecond
	DefaultRetryBackoff        = time.Second
	DefaultMaxDeliveryAttempts = 8
)

// idempotencyTTL is how long Bond remembers an Idempotency-Key.
const idempotencyTTL = 24 * time.Hour

// maxRequestBody caps request bodies; Bond's are a few hundred bytes.
const maxRequestBody = 1 << 20

// Options configures an Emulator. The zero value is usable.
type Options struct {
	// Identity and Authorization are the accepted API key halves. A request must carry both
	// headers and, for each option that is set, the same value; an empty option accepts any
	// non-empty header, so a standalone sandbox works with made-up keys.
	Identity      string
	Authorization string
	// WebhookDelay is the time between an accepted KYC POST and its first webhook (default
	// 300 ms), long enough for a client to see the "submitted" state first.
	WebhookDelay time.Duration
	// RetryBackoff is the wait before the second delivery attempt; it doubles after each
	// failed attempt (default 1 s).
	RetryBackoff time.Duration
	// MaxDeliveryAttempts bounds the attempts per webhook and subscription (default 8, Bond's
	// "approximately eight retry attempts").
	MaxDeliveryAttempts int
	// RequiredFields are the body fields a KYC POST must carry besides program_id (default
	// ["ssn"], as published document 001's kyc_post_schema example shows). Add "ip" to emulate a program
	// that requires it.
	RequiredFields []string
	// ReviewDelay, when positive, makes a verification under review pass on its own that long
	// after entering review. Zero keeps it under review until /simulate/kyc-pass or kyc-fail.
	ReviewDelay time.Duration
	// HTTPClient delivers webhooks; nil means a private client with a 10 s timeout.
	HTTPClient *http.Client
	// Now is the clock for timestamps (occurred_at, Bond-Signature t, idempotency expiry);
	// nil means time.Now. Delays always run on real time.
	Now func() time.Time
	// Logger receives delivery and state logs (never applicant data); nil discards them.
	Logger *slog.Logger
}

// Emulator is an http.Handler serving the Bond/Atelio API under /api/v0.1. Close it to stop
// its webhook deliveries.
type Emulator struct {
	opts     Options
	log      *slog.Logger
	hc       *http.Client
	ownHC    bool
	now      func() time.Time
	mux      *http.ServeMux // the API, authenticated
	api      http.Handler   // the fault injector in front of mux
	ctl      *http.ServeMux // /_sandbox/ control endpoints, never behind the injector
	faults   *faults.Injector
	brandID  string
	required map[string]bool

	// ctx is cancelled by Close; every goroutine the emulator starts watches it and is counted
	// in wg, so Close can wait for all of them.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu          sync.Mutex
	closed      bool
	kycs        map[string]*kycRecord // by subject key + "|" + program_id
	idem        map[string]time.Time  // by identity + "\x00" + key: first use
	idemSweep   time.Time
	subs        []*subscription
	submissions int
	wf          WebhookFaults
	held        map[string]*heldBatch // webhooks held for Reorder, by subject key

	stats deliveryCounters
}

// New returns an Emulator configured by o.
func New(o Options) *Emulator {
	if o.WebhookDelay <= 0 {
		o.WebhookDelay = DefaultWebhookDelay
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = DefaultRetryBackoff
	}
	if o.MaxDeliveryAttempts <= 0 {
		o.MaxDeliveryAttempts = DefaultMaxDeliveryAttempts
	}
	if o.RequiredFields == nil {
		o.RequiredFields = []string{"ssn"}
	}
	e := &Emulator{
		opts:     o,
		log:      o.Logger,
		hc:       o.HTTPClient,
		now:      o.Now,
		brandID:  newUUID(),
		required: map[string]bool{"program_id": true},
		kycs:     map[string]*kycRecord{},
		idem:     map[string]time.Time{},
		held:     map[string]*heldBatch{},
	}
	for _, f := range o.RequiredFields {
		e.required[f] = true
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.hc == nil {
		e.hc = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
		e.ownHC = true
	}
	if e.now == nil {
		e.now = time.Now
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())

	m := http.NewServeMux()
	const api = "/api/v0.1"
	m.HandleFunc("POST "+api+"/customers/{customer_id}/verification-kyc", e.postKYC)
	m.HandleFunc("GET "+api+"/customers/{customer_id}/verification-kyc", e.getKYC)
	m.HandleFunc("POST "+api+"/businesses/{business_id}/beneficial_owners/{beneficial_owner_id}/verification-kyc", e.postKYC)
	m.HandleFunc("GET "+api+"/businesses/{business_id}/beneficial_owners/{beneficial_owner_id}/verification-kyc", e.getKYC)
	m.HandleFunc("POST "+api+"/simulate/kyc-pass", e.simulate("passed"))
	m.HandleFunc("POST "+api+"/simulate/kyc-fail", e.simulate("failed"))
	m.HandleFunc("POST "+api+"/webhooks", e.createWebhook)
	m.HandleFunc("GET "+api+"/webhooks", e.listWebhooks)
	m.HandleFunc("GET "+api+"/webhooks/{id}", e.getWebhook)
	m.HandleFunc("PATCH "+api+"/webhooks/{id}", e.patchWebhook)
	m.HandleFunc("DELETE "+api+"/webhooks/{id}", e.deleteWebhook)
	m.HandleFunc("/", notFound)
	e.mux = m
	e.faults = faults.New(writeFault)
	e.api = e.faults.Wrap(http.HandlerFunc(e.serveAPI))

	ctl := http.NewServeMux()
	ctl.Handle("/_sandbox/faults", e.faults.ControlHandler())
	ctl.HandleFunc("/_sandbox/webhook-faults", e.webhookFaultsControl)
	ctl.HandleFunc("POST /_sandbox/kyc-status", e.authenticated(e.forceStatus))
	ctl.HandleFunc("/", notFound)
	e.ctl = ctl
	return e
}

// Faults returns the HTTP fault injector mounted in front of the whole API (not in front of
// the /_sandbox/ control endpoints, so faults can always be switched off).
func (e *Emulator) Faults() *faults.Injector { return e.faults }

// writeFault is an injected error in Bond's capitalised envelope.
func writeFault(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusTooManyRequests:
		writeEnvelope(w, status, "rate_limit_exceeded", "Rate limit exceeded: 1000 API calls per minute")
	default:
		writeEnvelope(w, status, "service_unavailable", "The service is temporarily unavailable. Please try again later.")
	}
}

// ServeHTTP serves the /_sandbox/ control endpoints directly, and the API through the fault
// injector and the API key check.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r = faults.Rooted(r)
	r.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
	if strings.HasPrefix(r.URL.Path, "/_sandbox/") {
		e.ctl.ServeHTTP(w, r)
		return
	}
	// Read the body before the fault injector: net/http notices a client that hung up only
	// once the body is consumed, and an injected latency must end when its caller gives up.
	body, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(&bodyReader{r: bytes.NewReader(body), err: err})
	e.api.ServeHTTP(w, r)
}

// bodyReader replays a request body read ahead, then the error that ended the read (e.g. the
// body was too large), so handlers see what they would have seen reading it themselves.
type bodyReader struct {
	r   *bytes.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF && b.err != nil {
		err = b.err
	}
	return n, err
}

// serveAPI authenticates an API request and routes it.
func (e *Emulator) serveAPI(w http.ResponseWriter, r *http.Request) {
	e.authenticated(e.mux.ServeHTTP)(w, r)
}

// authenticated refuses requests without the emulator's API key.
func (e *Emulator) authenticated(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !e.authorized(r) {
			writeEnvelope(w, http.StatusUnauthorized, "auth_err", "Invalid credentials: the Identity and Authorization headers must match an API key")
			return
		}
		h(w, r)
	}
}

func (e *Emulator) authorized(r *http.Request) bool {
	id, auth := r.Header.Get("Identity"), r.Header.Get("Authorization")
	if id == "" || auth == "" {
		return false
	}
	ok := true
	if e.opts.Identity != "" {
		ok = subtle.ConstantTimeCompare([]byte(id), []byte(e.opts.Identity)) == 1
	}
	if e.opts.Authorization != "" {
		ok = subtle.ConstantTimeCompare([]byte(auth), []byte(e.opts.Authorization)) == 1 && ok
	}
	return ok
}

// Submissions returns how many KYC POSTs opened a new attempt (answered 201). Tests use it to
// prove a client never submitted twice.
func (e *Emulator) Submissions() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.submissions
}

// Close stops every pending outcome and webhook delivery (including webhooks held or delayed by
// the webhook faults) and waits for their goroutines. The handler keeps answering requests
// afterwards, but schedules nothing new.
func (e *Emulator) Close() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.cancel()
	e.wg.Wait()
	if e.ownHC {
		e.hc.CloseIdleConnections()
	}
}

// goAfter runs fn in a goroutine owned by the emulator after d, unless Close comes first.
// It must be called with e.mu held (so it cannot race with Close's wg.Wait).
func (e *Emulator) goAfter(d time.Duration, fn func(ctx context.Context)) {
	if e.closed {
		return
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		if d > 0 {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
			case <-e.ctx.Done():
				return
			}
		}
		if e.ctx.Err() != nil {
			return
		}
		fn(e.ctx)
	}()
}

// envelope is Bond's capitalised error shape. Message is a string or a field map.
type envelope struct {
	Message any    `json:"Message"`
	Status  int    `json:"Status"`
	Code    string `json:"Code"`
	Type    string `json:"Type"`
}

func writeEnvelope(w http.ResponseWriter, status int, code string, message any) {
	typ := "Request Error"
	if status >= 500 {
		typ = "Server Error"
	}
	writeJSON(w, status, envelope{Message: message, Status: status, Code: code, Type: typ})
}

// writeFieldErrors is the marshmallow-style schema error published document 001 shows.
func writeFieldErrors(w http.ResponseWriter, code string, fields map[string][]string) {
	writeEnvelope(w, http.StatusBadRequest, code, fields)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var b []byte
	switch x := v.(type) {
	case obj:
		b = encodeJSON(x, false)
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// notFound is Flask's answer to an unknown URL, which Bond returns as is.
func notFound(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusNotFound, map[string]string{
		"message": "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.",
	})
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// pyTime formats t as Python's datetime.isoformat() does for an aware UTC time, the form the
// Atelio payloads show: 2022-07-15T16:36:46.167945+00:00.
func pyTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000") + "+00:00"
}
