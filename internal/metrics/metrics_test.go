package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kycgw/kycgw/internal/events"
	"github.com/kycgw/kycgw/internal/metrics"
	"github.com/kycgw/kycgw/internal/metrics/metricstest"
	"github.com/kycgw/kycgw/internal/resilience"
	"github.com/kycgw/kycgw/internal/store"
	"github.com/kycgw/kycgw/internal/store/redistest"
	"github.com/kycgw/kycgw/providers"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/redis/go-redis/v9"
)

func newMetrics(t *testing.T) (*metrics.Metrics, *prometheus.Registry) {
	t.Helper()
	reg := metrics.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

func TestNilMetricsIsANoOp(t *testing.T) {
	var m *metrics.Metrics
	m.AddProviders("bond")
	m.ProviderCall("bond", metrics.OpStart, time.Second, nil)
	m.WebhookReceived("bond")
	m.WebhookVerified("bond")
	m.WebhookRejected("bond", metrics.RejectBadSignature)
	m.WebhookApplied("bond", store.Applied{Duplicate: true})
	m.EventAppended(&store.Event{Provider: "bond", Status: providers.StatusPassed})
	m.IdempotencyClaim(store.Replay)
	m.StreamDropped(events.ErrSlow)
	m.SetStreamSubscribers(func() int { return 1 })
	m.SetBreakerStates(func() map[string]string { return nil })
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("nil Metrics handler: %d, want 404", rec.Code)
	}
}

func TestRegistriesAreSeparate(t *testing.T) {
	a, regA := newMetrics(t)
	b, regB := newMetrics(t)
	a.AddProviders("bond")
	b.AddProviders("bond")
	a.WebhookReceived("bond")
	a.WebhookReceived("bond")
	b.WebhookReceived("bond")
	if v := gather(t, regA)[`kycgw_webhooks_received_total{provider="bond"}`]; v != 2 {
		t.Errorf("a: %v webhooks, want 2", v)
	}
	if v := gather(t, regB)[`kycgw_webhooks_received_total{provider="bond"}`]; v != 1 {
		t.Errorf("b: %v webhooks, want 1", v)
	}
	// The same registry cannot take a second set: New reports it instead of panicking.
	if _, err := metrics.New(regA); err == nil {
		t.Error("second New on one registry: no error")
	}
}

func TestSeries(t *testing.T) {
	m, reg := newMetrics(t)
	m.AddProviders("bond", "cloudpayments")
	m.AddProviders("bond") // again: nothing changes

	m.ProviderCall("bond", metrics.OpStart, 30*time.Millisecond, nil)
	m.ProviderCall("bond", metrics.OpStart, 2*time.Second, fmt.Errorf("x: %w", providers.ErrUnavailable))
	m.ProviderCall("cloudpayments", metrics.OpPoll, time.Millisecond, &providers.UnknownStatusError{Provider: "cloudpayments", Value: "NEW"})
	m.WebhookReceived("bond")
	m.WebhookReceived("/etc/passwd")
	m.WebhookVerified("bond")
	m.WebhookRejected("bond", metrics.RejectUnknownStatus)
	m.WebhookRejected("no-such-provider", metrics.RejectNoReceiver)
	m.WebhookApplied("bond", store.Applied{Duplicate: true})
	m.WebhookApplied("bond", store.Applied{})
	m.EventAppended(&store.Event{Provider: "bond", Status: providers.StatusPassed})
	m.EventAppended(nil)
	m.IdempotencyClaim(store.Claimed)
	m.IdempotencyClaim(store.Replay)
	m.IdempotencyClaim(store.Mismatch)
	m.IdempotencyClaim(store.InFlight)
	m.IdempotencyClaim(store.InFlight)
	m.StreamDropped(events.ErrSlow)
	m.StreamDropped(fmt.Errorf("wrapped: %w", events.ErrStopped))
	m.SetStreamSubscribers(func() int { return 3 })
	m.SetBreakerStates(func() map[string]string {
		return map[string]string{"bond": "open", "atelio": "half-open", "cloudpayments": "closed"}
	})

	got := gather(t, reg)
	for _, c := range []struct {
		series string
		want   float64
	}{
		{`kycgw_provider_call_duration_seconds_count{operation="start",outcome="ok",provider="bond"}`, 1},
		{`kycgw_provider_call_duration_seconds_count{operation="start",outcome="unavailable",provider="bond"}`, 1},
		{`kycgw_provider_call_duration_seconds_bucket{le="1",operation="start",outcome="unavailable",provider="bond"}`, 0},
		{`kycgw_provider_call_duration_seconds_bucket{le="2.5",operation="start",outcome="unavailable",provider="bond"}`, 1},
		{`kycgw_provider_call_duration_seconds_count{operation="poll",outcome="unknown_status",provider="cloudpayments"}`, 1},
		{`kycgw_provider_unknown_statuses_total{provider="cloudpayments"}`, 1},
		{`kycgw_provider_unknown_statuses_total{provider="bond"}`, 1},
		{`kycgw_webhooks_received_total{provider="bond"}`, 1},
		{`kycgw_webhooks_received_total{provider="_unknown"}`, 1},
		{`kycgw_webhooks_received_total{provider="cloudpayments"}`, 0},
		{`kycgw_webhooks_verified_total{provider="bond"}`, 1},
		{`kycgw_webhooks_rejected_total{provider="bond",reason="unknown_status"}`, 1},
		{`kycgw_webhooks_rejected_total{provider="bond",reason="bad_signature"}`, 0},
		{`kycgw_webhooks_rejected_total{provider="_unknown",reason="no_receiver"}`, 1},
		{`kycgw_webhook_duplicates_total{provider="bond"}`, 1},
		{`kycgw_events_appended_total{provider="bond",status="PASSED"}`, 1},
		{`kycgw_events_appended_total{provider="cloudpayments",status="FAILED"}`, 0},
		{`kycgw_idempotency_replays_total`, 1},
		{`kycgw_idempotency_conflicts_total{reason="reused"}`, 1},
		{`kycgw_idempotency_conflicts_total{reason="in_flight"}`, 2},
		{`kycgw_stream_subscribers`, 3},
		{`kycgw_stream_subscribers_dropped_total{reason="slow"}`, 1},
		{`kycgw_stream_subscribers_dropped_total{reason="shutdown"}`, 1},
		{`kycgw_stream_subscribers_dropped_total{reason="lost"}`, 0},
		{`kycgw_provider_breaker_state{provider="bond"}`, metrics.BreakerOpen},
		{`kycgw_provider_breaker_state{provider="atelio"}`, metrics.BreakerHalfOpen},
		{`kycgw_provider_breaker_state{provider="cloudpayments"}`, metrics.BreakerClosed},
	} {
		v, ok := got[c.series]
		if !ok {
			t.Errorf("%s: missing", c.series)
			continue
		}
		if v != c.want {
			t.Errorf("%s = %v, want %v", c.series, v, c.want)
		}
	}
	for s := range got {
		if strings.Contains(s, "passwd") || strings.Contains(s, "no-such-provider") {
			t.Errorf("a name from a request became a label: %s", s)
		}
	}
	if _, ok := got[`kycgw_events_appended_total{provider="_unknown",status="PASSED"}`]; ok {
		t.Error("events series for the unknown provider exist before any event")
	}

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "kycgw_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}

func gather(t *testing.T, reg prometheus.Gatherer) metricstest.Samples {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return metricstest.FromFamilies(mfs)
}

func TestOutcome(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, metrics.OutcomeOK},
		{&providers.AlreadyPassedError{}, metrics.OutcomeAlreadyPassed},
		{&providers.FieldError{Field: "applicant.ssn", Reason: "invalid"}, metrics.OutcomeInvalidInput},
		{fmt.Errorf("x: %w", providers.ErrSubjectNotFound), metrics.OutcomeNotFound},
		{fmt.Errorf("x: %w", providers.ErrRejected), metrics.OutcomeRejected},
		{&providers.UnknownStatusError{Provider: "bond", Value: "weird"}, metrics.OutcomeUnknownStatus},
		{fmt.Errorf("x: %w", providers.ErrMalformed), metrics.OutcomeMalformed},
		{fmt.Errorf("%w: %w", providers.ErrUnavailable, &resilience.OpenError{Name: "bond", State: "open"}), metrics.OutcomeBreakerOpen},
		{fmt.Errorf("%w: %w", providers.ErrUnavailable, &resilience.RateLimitError{Name: "bond"}), metrics.OutcomeRateLimited},
		{fmt.Errorf("%w: %w", providers.ErrUnavailable, context.DeadlineExceeded), metrics.OutcomeTimeout},
		{fmt.Errorf("%w: %w", providers.ErrUnavailable, context.Canceled), metrics.OutcomeCanceled},
		{fmt.Errorf("%w: 503", providers.ErrUnavailable), metrics.OutcomeUnavailable},
		{errors.New("something else"), metrics.OutcomeError},
	} {
		if got := metrics.Outcome(c.err); got != c.want {
			t.Errorf("Outcome(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

// TestPerRequestCallsDoNotAllocate: these run on every Start, webhook, append and stream end.
func TestPerRequestCallsDoNotAllocate(t *testing.T) {
	m, _ := newMetrics(t)
	m.AddProviders("bond")
	ev := &store.Event{Provider: "bond", Status: providers.StatusUnderReview}
	dup := store.Applied{Duplicate: true}
	for name, f := range map[string]func(){
		"WebhookReceived":  func() { m.WebhookReceived("bond") },
		"WebhookVerified":  func() { m.WebhookVerified("bond") },
		"WebhookRejected":  func() { m.WebhookRejected("bond", metrics.RejectBadSignature) },
		"WebhookUnknown":   func() { m.WebhookReceived("elsewhere") },
		"WebhookApplied":   func() { m.WebhookApplied("bond", dup) },
		"EventAppended":    func() { m.EventAppended(ev) },
		"IdempotencyClaim": func() { m.IdempotencyClaim(store.Replay) },
		"StreamDropped":    func() { m.StreamDropped(events.ErrSlow) },
		"ProviderCall":     func() { m.ProviderCall("bond", metrics.OpStart, time.Millisecond, nil) },
	} {
		f() // the unknown provider's series are made on first use
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations, want 0", name, n)
		}
	}
}

func TestHandler(t *testing.T) {
	m, _ := newMetrics(t)
	m.AddProviders("bond")
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, want := range []string{"go_goroutines ", "process_cpu_seconds_total ", `kycgw_webhooks_received_total{provider="bond"} 0`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}

// TestRedisHook runs commands against a real redis-server: failures count under their command
// name; misses, lost WATCH races and an outage's failures are told apart.
func TestRedisHook(t *testing.T) {
	r := redistest.Start(t)
	m, reg := newMetrics(t)
	opt, err := redis.ParseURL(r.URL())
	if err != nil {
		t.Fatal(err)
	}
	opt.MaxRetries = -1
	c := redis.NewClient(opt)
	defer c.Close()
	c.AddHook(m.RedisHook())
	ctx := context.Background()

	if err := c.Get(ctx, "missing").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET missing: %v", err)
	}
	c.Set(ctx, "str", "v", 0)
	if err := c.LPush(ctx, "str", "x").Err(); err == nil {
		t.Fatal("LPUSH on a string: no error")
	}
	_, _ = c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Incr(ctx, "str") // not an integer
		p.Get(ctx, "str")
		return nil
	})
	err = c.Watch(ctx, func(tx *redis.Tx) error {
		c.Set(ctx, "w", "other writer", 0)
		_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, "w", "mine", 0)
			return nil
		})
		return err
	}, "w")
	if !errors.Is(err, redis.TxFailedErr) {
		t.Fatalf("WATCH race: %v, want TxFailedErr", err)
	}
	if err := c.XInfoStream(ctx, "no-stream").Err(); err == nil {
		t.Fatal("XINFO STREAM of a missing key: no error")
	}
	if err := redis.NewScript(`return 1`).Run(ctx, c, nil).Err(); err != nil {
		t.Fatalf("script: %v", err) // EVALSHA's NOSCRIPT, then EVAL
	}

	got := gather(t, reg)
	want := map[string]float64{
		`kycgw_redis_errors_total{command="lpush"}`: 1,
		`kycgw_redis_errors_total{command="incr"}`:  1,
	}
	for s, v := range got {
		if strings.HasPrefix(s, "kycgw_redis_errors_total") && want[s] != v {
			t.Errorf("%s = %v, want %v", s, v, want[s])
		}
	}
	for s, v := range want {
		if got[s] != v {
			t.Errorf("%s = %v, want %v", s, got[s], v)
		}
	}

	r.Stop()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING with Redis down: no error")
	}
	if v := gather(t, reg)[`kycgw_redis_errors_total{command="ping"}`]; v != 1 {
		t.Errorf(`ping errors = %v, want 1`, v)
	}
}
