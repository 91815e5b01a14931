// Package resilience wraps the http.RoundTripper a provider adapter calls through with what a
// provider's REST API needs from a well-behaved client: a client-side rate limit, a circuit
// breaker, a per-attempt timeout and retries where a retry cannot submit anything twice.
//
// One Transport serves one provider instance. Every attempt goes through, in this order:
//
//	rate limit (x/time/rate) -> circuit breaker (sony/gobreaker) -> per-attempt timeout -> base
//
// and the retry loop sits around all four, so each retry is rate limited, counted by the
// breaker and bounded by its own timeout.
//
// Errors the Transport makes itself (an open breaker, a rate-limit wait that would pass the
// request's deadline) are returned from RoundTrip, so http.Client.Do fails with them like with
// any transport error and adapters report them as providers.ErrUnavailable.
//
// It logs breaker state changes and retries with the instance name and the method only: never
// a URL, a header or a body, which can carry tokens and personal data.
//
// It must not import package providers, an adapter, generated protobuf code or the server: it
// knows HTTP, not KYC.
package resilience

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
	"golang.org/x/time/rate"
)

// Defaults for the zero fields of Options.
const (
	DefaultTimeout        = 10 * time.Second
	DefaultMaxAttempts    = 3
	DefaultBaseBackoff    = 100 * time.Millisecond
	DefaultMaxBackoff     = 2 * time.Second
	DefaultRatePerMinute  = 1000 // Bond documents 1,000 API calls per minute
	DefaultBurst          = 10
	DefaultFailuresToOpen = 5
	DefaultOpenDuration   = 10 * time.Second
	DefaultHalfOpenProbes = 1
)

// Options configures a Transport. The zero value means every default.
type Options struct {
	// Timeout bounds one attempt, from sending the request to closing the response body
	// (default 10 s). The request's own deadline still bounds the whole call, retries included.
	Timeout time.Duration
	// MaxAttempts bounds the attempts of a request that may be retried (default 3); 1 turns
	// retries off.
	MaxAttempts int
	// BaseBackoff and MaxBackoff shape the jittered exponential wait between attempts: before
	// retry n, a random duration in [d/2, d] with d = min(BaseBackoff*2^(n-1), MaxBackoff)
	// (defaults 100 ms and 2 s). A Retry-After header replaces it, capped at 4*MaxBackoff.
	BaseBackoff time.Duration
	MaxBackoff  time.Duration
	// RatePerMinute is the client-side limit on attempts (default 1000, Bond's documented
	// limit); negative means unlimited. Burst is how many may go at once (default 10), so one
	// minute can see up to RatePerMinute+Burst attempts.
	RatePerMinute int
	Burst         int
	// FailuresToOpen consecutive failed attempts (transport errors, timeouts, 5xx, 429) open
	// the breaker (default 5). It stays open OpenDuration (default 10 s), then lets
	// HalfOpenProbes attempts through (default 1): all succeeding closes it, any failing opens
	// it again.
	FailuresToOpen int
	OpenDuration   time.Duration
	HalfOpenProbes int
	// Logger receives breaker state changes (Warn when opening, Info otherwise) and retries
	// (Debug); nil discards them.
	Logger *slog.Logger
	// Now is the clock of the rate limiter and of Retry-After dates; nil means time.Now.
	// Waits always run on real time, and the breaker keeps its own real clock.
	Now func() time.Time
}

// Transport is an http.RoundTripper adding rate limiting, a circuit breaker, per-attempt
// timeouts and safe retries to a base RoundTripper. It is safe for concurrent use.
type Transport struct {
	name    string
	base    http.RoundTripper
	opts    Options
	limiter *rate.Limiter // nil: unlimited
	cb      *gobreaker.TwoStepCircuitBreaker[struct{}]
	log     *slog.Logger
	now     func() time.Time
	jitter  func() float64 // in [0, 1); a field so tests can pin it

	attempts     atomic.Uint64
	retries      atomic.Uint64
	rejected     atomic.Uint64
	rateWaits    atomic.Uint64
	rateRefusals atomic.Uint64
}

var _ http.RoundTripper = (*Transport)(nil)

// New returns a Transport for the provider instance name over base (nil means
// http.DefaultTransport). Zero or negative fields of o take their defaults (see Options).
func New(name string, base http.RoundTripper, o Options) *Transport {
	if base == nil {
		base = http.DefaultTransport
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.BaseBackoff <= 0 {
		o.BaseBackoff = DefaultBaseBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.MaxBackoff < o.BaseBackoff {
		o.MaxBackoff = o.BaseBackoff
	}
	if o.RatePerMinute == 0 {
		o.RatePerMinute = DefaultRatePerMinute
	}
	if o.Burst <= 0 {
		o.Burst = DefaultBurst
	}
	if o.FailuresToOpen <= 0 {
		o.FailuresToOpen = DefaultFailuresToOpen
	}
	if o.OpenDuration <= 0 {
		o.OpenDuration = DefaultOpenDuration
	}
	if o.HalfOpenProbes <= 0 {
		o.HalfOpenProbes = DefaultHalfOpenProbes
	}
	t := &Transport{name: name, base: base, opts: o, log: o.Logger, now: o.Now, jitter: randFloat}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if t.now == nil {
		t.now = time.Now
	}
	if o.RatePerMinute > 0 {
		t.limiter = rate.NewLimiter(rate.Limit(float64(o.RatePerMinute)/60), o.Burst)
	}
	failures := uint32(o.FailuresToOpen)
	t.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        name,
		MaxRequests: uint32(o.HalfOpenProbes),
		Timeout:     o.OpenDuration,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		// Called with the breaker's lock held: log only, never call back into the breaker.
		OnStateChange: func(name string, from, to gobreaker.State) {
			level := slog.LevelInfo
			if to == gobreaker.StateOpen {
				level = slog.LevelWarn
			}
			t.log.Log(context.Background(), level, "provider circuit breaker state changed",
				"provider", name, "from", from.String(), "to", to.String())
		},
		IsSuccessful: func(err error) bool { return err == nil },
		IsExcluded:   func(err error) bool { return errors.Is(err, errCallerGone) },
	})
	return t
}

// Name returns the provider instance name the Transport was built for.
func (t *Transport) Name() string { return t.name }

// State returns the breaker's state: "closed", "open" or "half-open". An open breaker turns
// into half-open when read after OpenDuration.
func (t *Transport) State() string { return t.cb.State().String() }

// Stats are a Transport's counters since New.
type Stats struct {
	// Attempts is how many requests reached the base transport.
	Attempts uint64
	// Retries is how many times a request was tried again after a retryable outcome (the
	// breaker or the rate limiter may still have refused the retry).
	Retries uint64
	// BreakerRejected is how many attempts the breaker refused (open, or half-open with its
	// probes already out); each fails its request without sending it.
	BreakerRejected uint64
	// RateLimitedWaits is how many attempts waited for the rate limiter.
	RateLimitedWaits uint64
	// RateLimitRejected is how many attempts failed at once because the wait for the rate
	// limiter would have passed the request's deadline.
	RateLimitRejected uint64
}

// Stats returns the counters.
func (t *Transport) Stats() Stats {
	return Stats{
		Attempts:          t.attempts.Load(),
		Retries:           t.retries.Load(),
		BreakerRejected:   t.rejected.Load(),
		RateLimitedWaits:  t.rateWaits.Load(),
		RateLimitRejected: t.rateRefusals.Load(),
	}
}

// Outcomes reported to the breaker besides success (nil).
var (
	errFailed = errors.New("attempt failed")
	// errCallerGone: the request's own context ended the attempt. That says nothing about
	// the provider, so the breaker leaves it out of its counts.
	errCallerGone = errors.New("caller gave up")
)

// RoundTrip implements http.RoundTripper. It sends req at most once unless it is safe to
// repeat (see Retryable), and then at most MaxAttempts times.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	maxAttempts := 1
	if t.opts.MaxAttempts > 1 && Retryable(req) {
		maxAttempts = t.opts.MaxAttempts
	}
	body, err := newReplay(req, maxAttempts > 1)
	if err != nil {
		return nil, fmt.Errorf("resilience %s: %w", t.name, err)
	}
	defer body.close()
	if !body.replayable() {
		maxAttempts = 1
	}
	for n := 1; ; n++ {
		resp, err := t.attempt(ctx, req, body)
		if n >= maxAttempts || ctx.Err() != nil || !retryOutcome(resp, err) {
			return resp, err
		}
		delay := backoff(t.opts.BaseBackoff, t.opts.MaxBackoff, n, t.jitter)
		if resp != nil {
			if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), t.now()); ok {
				delay = min(d, 4*t.opts.MaxBackoff)
			}
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= delay {
			// The retry could not happen before the caller's deadline: answer now with what
			// the provider said instead of sleeping into a timeout.
			return resp, err
		}
		attrs := []any{"provider", t.name, "method", req.Method, "attempt", n, "delay", delay}
		if resp != nil {
			attrs = append(attrs, "status", resp.StatusCode)
			discard(resp)
		} else {
			attrs = append(attrs, "error", errorKind(err))
		}
		t.log.Debug("provider request retried", attrs...)
		if err := sleep(ctx, delay); err != nil {
			return nil, fmt.Errorf("resilience %s: waiting to retry: %w", t.name, err)
		}
		t.retries.Add(1)
	}
}

// attempt sends one attempt of req through the rate limiter, the breaker and its own
// timeout. A response's body cancels the attempt's context when closed.
func (t *Transport) attempt(ctx context.Context, req *http.Request, body *replay) (*http.Response, error) {
	// An open breaker would refuse after the rate-limit wait anyway; refusing first keeps the
	// fail-fast fast and leaves the tokens to the calls after it closes.
	if t.cb.State() == gobreaker.StateOpen {
		t.rejected.Add(1)
		return nil, &OpenError{Name: t.name, State: gobreaker.StateOpen.String()}
	}
	if err := t.wait(ctx); err != nil {
		return nil, err
	}
	done, err := t.cb.Allow()
	if err != nil {
		t.rejected.Add(1)
		state := gobreaker.StateOpen
		if errors.Is(err, gobreaker.ErrTooManyRequests) {
			state = gobreaker.StateHalfOpen
		}
		return nil, &OpenError{Name: t.name, State: state.String()}
	}
	actx, cancel := context.WithTimeout(ctx, t.opts.Timeout)
	r := req.Clone(actx)
	r.Body, err = body.next()
	if err != nil {
		cancel()
		done(errCallerGone) // never sent: not the provider's doing
		return nil, fmt.Errorf("resilience %s: replay request body: %w", t.name, err)
	}
	t.attempts.Add(1)
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		cancel()
		if ctx.Err() != nil {
			done(errCallerGone)
			return nil, err
		}
		done(errFailed)
		if errors.Is(actx.Err(), context.DeadlineExceeded) {
			return nil, &TimeoutError{Name: t.name, After: t.opts.Timeout, Err: err}
		}
		return nil, err
	}
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		done(errFailed)
	} else {
		done(nil)
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// wait takes a token from the rate limiter, waiting for it when needed. A wait that would end
// after the request's deadline fails at once with a *RateLimitError.
func (t *Transport) wait(ctx context.Context) error {
	if t.limiter == nil {
		return nil
	}
	now := t.now()
	r := t.limiter.ReserveN(now, 1)
	if !r.OK() { // cannot happen with Burst >= 1; fail rather than wait forever
		return &RateLimitError{Name: t.name}
	}
	d := r.DelayFrom(now)
	if d <= 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		r.CancelAt(now)
		t.rateRefusals.Add(1)
		return &RateLimitError{Name: t.name, Wait: d}
	}
	t.rateWaits.Add(1)
	if err := sleep(ctx, d); err != nil {
		r.CancelAt(t.now())
		return fmt.Errorf("resilience %s: waiting for the rate limiter: %w", t.name, err)
	}
	return nil
}

// retryOutcome reports whether an attempt's outcome is worth another attempt of a request
// that is safe to repeat.
func retryOutcome(resp *http.Response, err error) bool {
	if err != nil {
		return retryableError(err)
	}
	return RetryableStatus(resp.StatusCode)
}

// retryableError reports whether a transport error may go away on its own. The breaker and
// the rate limiter have already decided; a certificate the client refuses will be refused
// again.
func retryableError(err error) bool {
	var cv *tls.CertificateVerificationError
	switch {
	case errors.Is(err, ErrOpen), errors.Is(err, ErrRateLimited), errors.As(err, &cv):
		return false
	}
	return true
}

// errorKind names an error for a log line without its text, which may quote a URL.
func errorKind(err error) string {
	var te *TimeoutError
	switch {
	case errors.As(err, &te):
		return "attempt timeout"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline exceeded"
	}
	return "transport error"
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// discard drains (a bounded amount of) a response that will not be returned, so its
// connection can be reused, and closes it.
func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

// cancelOnClose ends an attempt's context when the caller is done with the body, not when
// RoundTrip returns: the timeout covers reading the body too.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
