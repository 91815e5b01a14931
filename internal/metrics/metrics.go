// Package metrics defines kycgw's Prometheus metrics: one Metrics value holds every collector
// the gateway exports and registers them on a registry its owner chooses, so tests and
// several servers in one process never share series through the global default registry.
//
// Labels carry only bounded values: configured provider instance names, the operation,
// outcome and reason enumerations of this package, normalized status names, gRPC methods and
// codes, and Redis command names. Never a verification id, a subject, a tenant's key or
// anything an applicant sent: a label value becomes a time series, kept and shown to whoever
// reads the metrics.
//
// Every method is safe on a nil *Metrics (it does nothing), so call sites stay one line.
// Counters on per-request paths are resolved once, when a provider is added, and an
// increment allocates nothing.
//
// It must not import the server or a provider adapter.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kycgw/kycgw/internal/events"
	"github.com/kycgw/kycgw/internal/resilience"
	"github.com/kycgw/kycgw/internal/store"
	"github.com/kycgw/kycgw/providers"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// UnknownProvider is the provider label of webhook requests whose path names no configured
// instance: the path is the sender's to choose, so it never becomes a label itself.
// Configured names start with a letter, so this one cannot collide with any.
const UnknownProvider = "_unknown"

// Operation is what the gateway asked a provider.
type Operation int

// Operations on a provider.
const (
	// OpStart is a Start: a submission, or the continuation of an attempt.
	OpStart Operation = iota
	// OpStatus is a status read after an out-of-order webhook.
	OpStatus
	// OpPoll is a scheduled status read of a provider without webhooks.
	OpPoll
	numOperations
)

var operationNames = [numOperations]string{OpStart: "start", OpStatus: "status", OpPoll: "poll"}

func (o Operation) String() string {
	if o >= 0 && o < numOperations {
		return operationNames[o]
	}
	return "other"
}

// WebhookRejection is why a webhook request was not acknowledged.
type WebhookRejection int

// Webhook rejection reasons.
const (
	// RejectRateLimited: the source sent too many unverifiable requests recently (429).
	RejectRateLimited WebhookRejection = iota
	// RejectNoReceiver: the path names no provider instance that receives webhooks (404).
	RejectNoReceiver
	// RejectTooLarge: the body is over the limit (413).
	RejectTooLarge
	// RejectUnreadable: the body could not be read (400).
	RejectUnreadable
	// RejectBadSignature: the signature is missing, stale or wrong (401).
	RejectBadSignature
	// RejectMalformed: signed, but not a payload the adapter understands (400).
	RejectMalformed
	// RejectUnknownStatus: signed and parsed, but with a status no table row names (500, so
	// the provider delivers it again). It also counts as an unknown provider status.
	RejectUnknownStatus
	// RejectNotRecorded: verified, but the store could not record it (503, delivered again).
	RejectNotRecorded
	numRejections
)

var rejectionNames = [numRejections]string{
	RejectRateLimited:   "rate_limited",
	RejectNoReceiver:    "no_receiver",
	RejectTooLarge:      "too_large",
	RejectUnreadable:    "unreadable",
	RejectBadSignature:  "bad_signature",
	RejectMalformed:     "malformed",
	RejectUnknownStatus: "unknown_status",
	RejectNotRecorded:   "not_recorded",
}

func (r WebhookRejection) String() string {
	if r >= 0 && r < numRejections {
		return rejectionNames[r]
	}
	return "other"
}

// Outcomes of a provider call (the outcome label of kycgw_provider_call_duration_seconds).
const (
	OutcomeOK            = "ok"
	OutcomeAlreadyPassed = "already_passed" // the subject passed KYC before
	OutcomeInvalidInput  = "invalid_input"  // the provider refused the caller's input
	OutcomeNotFound      = "not_found"      // the provider does not know the subject
	OutcomeRejected      = "rejected"       // the provider refused our request
	OutcomeUnknownStatus = "unknown_status" // an answer with a status no table row names
	OutcomeMalformed     = "malformed"      // an answer that could not be parsed
	OutcomeBreakerOpen   = "breaker_open"   // refused by the circuit breaker, nothing sent
	OutcomeRateLimited   = "rate_limited"   // refused by the client-side rate limit, nothing sent
	OutcomeTimeout       = "timeout"        // the call's deadline passed
	OutcomeCanceled      = "canceled"       // the call was canceled
	OutcomeUnavailable   = "unavailable"    // unreachable, 5xx or 429
	OutcomeError         = "error"          // anything else
)

// Outcome classifies a provider call's error into one of the Outcome constants.
func Outcome(err error) string {
	if err == nil {
		return OutcomeOK // before fe, which escapes to the heap: a success allocates nothing
	}
	var fe *providers.FieldError
	switch {
	case errors.Is(err, providers.ErrAlreadyPassed):
		return OutcomeAlreadyPassed
	case errors.As(err, &fe):
		return OutcomeInvalidInput
	case errors.Is(err, providers.ErrSubjectNotFound):
		return OutcomeNotFound
	case errors.Is(err, providers.ErrUnknownStatus):
		return OutcomeUnknownStatus
	case errors.Is(err, providers.ErrRejected):
		return OutcomeRejected
	case errors.Is(err, providers.ErrMalformed):
		return OutcomeMalformed
	case errors.Is(err, resilience.ErrOpen):
		return OutcomeBreakerOpen
	case errors.Is(err, resilience.ErrRateLimited):
		return OutcomeRateLimited
	case errors.Is(err, context.DeadlineExceeded):
		return OutcomeTimeout
	case errors.Is(err, context.Canceled):
		return OutcomeCanceled
	case errors.Is(err, providers.ErrUnavailable):
		return OutcomeUnavailable
	}
	return OutcomeError
}

// Stream drop reasons (the reason label of kycgw_stream_subscribers_dropped_total).
const (
	DropSlow             = "slow"              // its queue overflowed
	DropLost             = "lost"              // the hub fell behind the log's retention
	DropStoreUnavailable = "store_unavailable" // the event log could not be read
	DropShutdown         = "shutdown"          // the server is stopping
	DropOther            = "other"
)

// Breaker states as kycgw_provider_breaker_state reports them.
const (
	BreakerClosed   = 0
	BreakerHalfOpen = 1
	BreakerOpen     = 2
)

// Metrics holds kycgw's collectors. Build it with New; use one per server.
type Metrics struct {
	gatherer prometheus.Gatherer // nil when the registerer gathers nothing itself

	// GRPC is the gRPC server metrics (grpc_server_*): its interceptors go first in the
	// server's chain, and InitializeMetrics runs once the services are registered.
	GRPC *GRPCServer

	providerCalls   *prometheus.HistogramVec
	unknownStatuses *prometheus.CounterVec
	webhooksIn      *prometheus.CounterVec
	webhooksOK      *prometheus.CounterVec
	webhooksRefused *prometheus.CounterVec
	webhookDups     *prometheus.CounterVec
	eventsAppended  *prometheus.CounterVec
	streamsDropped  *prometheus.CounterVec
	replays         prometheus.Counter
	conflicts       *prometheus.CounterVec
	redisErrors     *prometheus.CounterVec

	dropped  [5]prometheus.Counter // by reason, in the order of dropReasons
	reused   prometheus.Counter
	inFlight prometheus.Counter

	// known maps each added provider name to its series. Copied on write: per-request reads
	// take no lock.
	known     atomic.Pointer[map[string]*providerSeries]
	knownMu   sync.Mutex
	unknownMu sync.Once
	unknown   *providerSeries

	subscribers atomic.Pointer[func() int]
	breakers    atomic.Pointer[func() map[string]string]
}

var dropReasons = [...]string{DropSlow, DropLost, DropStoreUnavailable, DropShutdown, DropOther}

// providerSeries are one provider's per-request counters, resolved once.
type providerSeries struct {
	received, verified, duplicates, unknownStatus prometheus.Counter
	rejected                                      [numRejections]prometheus.Counter
	events                                        [providers.StatusExpired + 1]prometheus.Counter
	// callsOK are the provider call histograms' "ok" series by operation: every successful
	// Start and poll observes one. (Other outcomes are rarer and resolve theirs per call.)
	callsOK [numOperations]prometheus.Observer
}

// NewRegistry returns a registry of its own (not the process-wide default) with the Go
// runtime and process collectors, for New.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// providerCallBuckets span a fast emulator answer to a call that ran into a provider timeout.
var providerCallBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15, 30}

// New builds the collectors and registers them on reg. When reg is also a
// prometheus.Gatherer (a *prometheus.Registry is), Handler serves what it gathers.
func New(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		GRPC: newGRPCServer(),
		providerCalls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kycgw_provider_call_duration_seconds",
			Help:    "Time a call to a provider took, in seconds, by provider instance, operation (start, status, poll) and outcome (ok, already_passed, invalid_input, not_found, rejected, unknown_status, malformed, breaker_open, rate_limited, timeout, canceled, unavailable, error). Its _count is the number of calls.",
			Buckets: providerCallBuckets,
		}, []string{"provider", "operation", "outcome"}),
		unknownStatuses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kycgw_provider_unknown_statuses_total",
			Help: "Provider answers and webhooks carrying a status or event no mapping names, by provider instance. Never guessed: the call fails, the webhook is not acknowledged.",
		}, []string{"provider"}),
		webhooksIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kycgw_webhooks_received_total",
			Help: `Webhook requests received, by provider instance ("` + UnknownProvider + `" when the path names none).`,
		}, []string{"provider"}),
		webhooksOK: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kycgw_webhooks_verified_total",
			Help: "Webhook requests whose signature verified and whose body parsed, by provider instance.",
		}, []string{"provider"}),
		webhooksRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kycgw_webhooks_rejected_total",
			Help: "Webhook requests not acknowledged, by provider instance and reason (rate_limited, no_receiver, too_large, unreadable, bad_signature, malformed, unknown_status, not_recorded).",
		}, []string{"provider", "reason"}),
		webhookDups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kycgw_webhook_duplicates_total",
			Help: "Webhook events already applied before (a provider's redelivery), acknowledged without effect, by provider instance.",
		}, []string{"provider"}),
		eventsAppended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kycgw_events_appended_total",
			Help: "Status changes appended to the event log by this replica, by provider instance and new status.",
		}, []string{"provider", "status"}),
		streamsDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kycgw_stream_subscribers_dropped_total",
			Help: "Event streams the server ended, by reason (slow: fell behind; lost: the event reader fell behind the log's retention; store_unavailable; shutdown). Streams their clients closed are not counted.",
		}, []string{"reason"}),
		replays: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kycgw_idempotency_replays_total",
			Help: "Starts answered from the stored outcome of an earlier request with the same idempotency key.",
		}),
		conflicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kycgw_idempotency_conflicts_total",
			Help: "Starts refused over their idempotency key, by reason (reused: the key came with another request; in_flight: a request with the key was still running).",
		}, []string{"reason"}),
		redisErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kycgw_redis_errors_total",
			Help: "Redis commands that failed, by command name. Misses, lost optimistic-lock races and callers that went away are not failures.",
		}, []string{"command"}),
	}
	subscribers := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "kycgw_stream_subscribers",
		Help: "Event streams open on this replica.",
	}, func() float64 {
		if f := m.subscribers.Load(); f != nil {
			return float64((*f)())
		}
		return 0
	})
	for _, c := range []prometheus.Collector{m.GRPC, m.providerCalls, m.unknownStatuses, m.webhooksIn,
		m.webhooksOK, m.webhooksRefused, m.webhookDups, m.eventsAppended, m.streamsDropped, m.replays,
		m.conflicts, m.redisErrors, subscribers, breakerCollector{m}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	if g, ok := reg.(prometheus.Gatherer); ok {
		m.gatherer = g
	}
	for i, r := range dropReasons {
		m.dropped[i] = m.streamsDropped.WithLabelValues(r)
	}
	m.reused = m.conflicts.WithLabelValues("reused")
	m.inFlight = m.conflicts.WithLabelValues("in_flight")
	m.known.Store(&map[string]*providerSeries{})
	return m, nil
}

// Handler serves the metrics in the Prometheus exposition formats, or answers 404 when the
// registerer New was given gathers nothing itself.
func (m *Metrics) Handler() http.Handler {
	if m == nil || m.gatherer == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.gatherer, promhttp.HandlerOpts{})
}

// AddProviders makes the named provider instances known: their per-request series exist from
// now on, at zero, and requests naming any other provider count under UnknownProvider.
func (m *Metrics) AddProviders(names ...string) {
	if m == nil {
		return
	}
	m.knownMu.Lock()
	defer m.knownMu.Unlock()
	old := *m.known.Load()
	next := make(map[string]*providerSeries, len(old)+len(names))
	for k, v := range old {
		next[k] = v
	}
	for _, n := range names {
		if _, ok := next[n]; !ok {
			next[n] = m.newSeries(n)
		}
	}
	m.known.Store(&next)
}

func (m *Metrics) newSeries(name string) *providerSeries {
	ps := &providerSeries{
		received:      m.webhooksIn.WithLabelValues(name),
		verified:      m.webhooksOK.WithLabelValues(name),
		duplicates:    m.webhookDups.WithLabelValues(name),
		unknownStatus: m.unknownStatuses.WithLabelValues(name),
	}
	for r := range numRejections {
		ps.rejected[r] = m.webhooksRefused.WithLabelValues(name, r.String())
	}
	if name != UnknownProvider {
		for s := providers.StatusUnspecified + 1; s <= providers.StatusExpired; s++ {
			ps.events[s] = m.eventsAppended.WithLabelValues(name, s.String())
		}
		for op := range numOperations {
			ps.callsOK[op] = m.providerCalls.WithLabelValues(name, op.String(), OutcomeOK)
		}
	}
	return ps
}

// series returns a provider's series, or UnknownProvider's for a name never added.
func (m *Metrics) series(provider string) *providerSeries {
	if ps, ok := (*m.known.Load())[provider]; ok {
		return ps
	}
	m.unknownMu.Do(func() { m.unknown = m.newSeries(UnknownProvider) })
	return m.unknown
}

// ProviderCall records one call to a provider: how long it took and how it ended.
func (m *Metrics) ProviderCall(provider string, op Operation, took time.Duration, err error) {
	if m == nil {
		return
	}
	outcome := Outcome(err)
	if ps, ok := (*m.known.Load())[provider]; ok && outcome == OutcomeOK && op >= 0 && op < numOperations {
		ps.callsOK[op].Observe(took.Seconds())
		return
	}
	m.providerCalls.WithLabelValues(provider, op.String(), outcome).Observe(took.Seconds())
	if outcome == OutcomeUnknownStatus {
		m.series(provider).unknownStatus.Inc()
	}
}

// WebhookReceived counts a webhook request.
func (m *Metrics) WebhookReceived(provider string) {
	if m == nil {
		return
	}
	m.series(provider).received.Inc()
}

// WebhookVerified counts a webhook request whose signature verified and whose body parsed.
func (m *Metrics) WebhookVerified(provider string) {
	if m == nil {
		return
	}
	m.series(provider).verified.Inc()
}

// WebhookRejected counts a webhook request that was not acknowledged, and why.
func (m *Metrics) WebhookRejected(provider string, why WebhookRejection) {
	if m == nil || why < 0 || why >= numRejections {
		return
	}
	ps := m.series(provider)
	ps.rejected[why].Inc()
	if why == RejectUnknownStatus {
		ps.unknownStatus.Inc()
	}
}

// WebhookApplied records the outcome of applying one webhook event: a duplicate delivery is
// counted.
func (m *Metrics) WebhookApplied(provider string, a store.Applied) {
	if m == nil || !a.Duplicate {
		return
	}
	m.series(provider).duplicates.Inc()
}

// EventAppended counts an event appended to the log; nil (an update that changed nothing)
// counts nothing.
func (m *Metrics) EventAppended(e *store.Event) {
	if m == nil || e == nil {
		return
	}
	if e.Status.Valid() {
		if c := m.series(e.Provider).events[e.Status]; c != nil {
			c.Inc()
			return
		}
	}
	m.eventsAppended.WithLabelValues(UnknownProvider, e.Status.String()).Inc()
}

// IdempotencyClaim counts a claim's outcome when it is a replay or a conflict.
func (m *Metrics) IdempotencyClaim(s store.ClaimState) {
	if m == nil {
		return
	}
	switch s {
	case store.Replay:
		m.replays.Inc()
	case store.Mismatch:
		m.reused.Inc()
	case store.InFlight:
		m.inFlight.Inc()
	}
}

// StreamDropped counts a stream the server ended, with the hub's reason (an events.Err*).
func (m *Metrics) StreamDropped(err error) {
	if m == nil {
		return
	}
	i := 4
	switch {
	case errors.Is(err, events.ErrSlow):
		i = 0
	case errors.Is(err, events.ErrLost):
		i = 1
	case errors.Is(err, events.ErrSourceDown):
		i = 2
	case errors.Is(err, events.ErrStopped):
		i = 3
	}
	m.dropped[i].Inc()
}

// SetStreamSubscribers sets where kycgw_stream_subscribers reads the number of open streams
// at each scrape (the server's event hub).
func (m *Metrics) SetStreamSubscribers(f func() int) {
	if m == nil || f == nil {
		return
	}
	m.subscribers.Store(&f)
}

// SetBreakerStates sets where kycgw_provider_breaker_state reads each provider instance's
// circuit breaker state ("closed", "half-open", "open") at each scrape.
func (m *Metrics) SetBreakerStates(f func() map[string]string) {
	if m == nil || f == nil {
		return
	}
	m.breakers.Store(&f)
}

var breakerDesc = prometheus.NewDesc("kycgw_provider_breaker_state",
	"State of each provider instance's circuit breaker: 0 closed, 1 half-open (probing), 2 open (calls refused without being sent).",
	[]string{"provider"}, nil)

// breakerCollector reads the breakers at scrape time, so the gauge is never stale and the
// breakers need no hook.
type breakerCollector struct{ m *Metrics }

func (c breakerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- breakerDesc }

func (c breakerCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.m.breakers.Load()
	if f == nil {
		return
	}
	for name, st := range (*f)() {
		v := BreakerClosed
		switch st {
		case "half-open":
			v = BreakerHalfOpen
		case "open":
			v = BreakerOpen
		}
		ch <- prometheus.MustNewConstMetric(breakerDesc, prometheus.GaugeValue, float64(v), name)
	}
}
