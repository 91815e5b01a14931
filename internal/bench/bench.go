package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/kycgw/kycgw/internal/store"
	"github.com/kycgw/kycgw/providers"
	"github.com/kycgw/kycgw/server"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// Case groups, selectable with Options.Cases.
const (
	CaseEcho    = "echo"
	CaseGateway = "gateway"
	CaseFanout  = "fanout"
	CaseE2E     = "e2e"
)

// Servers of the stream rows: the gateway, and the reference's bare grpc-go server.
const (
	ServerGateway = "gateway"
	ServerBare    = "bare grpc-go"
)

// Fan-out phases.
const (
	PhaseOneToAll   = "one event to all"
	PhaseSteadyRate = "steady rate"
)

// Stores the gateway case runs on.
const (
	StoreMemory = "memory"
	StoreRedis  = "redis"
)

// Options size a run. DefaultOptions gives the full or the quick run.
type Options struct {
	// Quick marks a quick run in the report (its sizes are already in the fields below).
	Quick bool
	// Cases to run (CaseEcho, CaseGateway, CaseFanout, CaseE2E); empty: all. The gateway rows'
	// echo ratios need CaseEcho.
	Cases []string
	// Stores the gateway case runs on (StoreMemory, StoreRedis).
	Stores []string
	// RPCs and Transports narrow the gateway case (for profiling one of them); empty: all.
	RPCs, Transports []string
	// Duration is how long each load case is measured, after Warmup.
	Duration, Warmup time.Duration
	// Concurrency lists the numbers of requests kept in flight.
	Concurrency []int

	// FanoutStreams lists the numbers of streams of the "one event to all" phases; each gets
	// FanoutEvents events, one at a time: the next is appended FanoutGap after the previous
	// one reached every stream.
	FanoutStreams []int
	FanoutEvents  int
	FanoutGap     time.Duration
	// RateStreams streams receive Rate events per second for RateDuration.
	RateStreams  int
	Rate         float64
	RateDuration time.Duration
	// StreamQueueSize is the gateway's per-stream queue (server.Config.StreamQueueSize; 0: its
	// default).
	StreamQueueSize int

	// MaxEvents bounds the event log of the gateway cases' stores, as the gateway's
	// --event-max-len does (0: the stores' default, store.DefaultMaxEvents).
	MaxEvents int
	// FillEvents is how many events the gateway cases' store holds before they run (0: none):
	// by default its log's bound, where a running gateway's log sits, so that a Start pays for
	// retention as well as for its append, and the store holds as many records as then.
	FillEvents int

	// BallastMiB is a pointer-free allocation held for the whole run (0: none). The garbage
	// collector paces itself on the live heap, which differs between cases: the echo
	// reference's is a couple of MB (so it collects every few MB allocated), the gateway's
	// memory store grows to tens of MB. Without an even floor the reference runs ~30% slower
	// from GC pacing alone, flattering every ratio. Its pages are never touched, so it is not
	// resident and does not disturb the memory figures.
	BallastMiB int

	// Progress receives a line per step (nil: none).
	Progress io.Writer
}

// DefaultOptions returns the sizes of the full run, or of the quick one (under a minute).
func DefaultOptions(quick bool) Options {
	o := Options{
		Stores:        []string{StoreMemory, StoreRedis},
		Duration:      2 * time.Second,
		Warmup:        300 * time.Millisecond,
		Concurrency:   []int{1, 64},
		FanoutStreams: []int{1000, 10000},
		FanoutEvents:  20,
		FanoutGap:     50 * time.Millisecond,
		RateStreams:   1000,
		Rate:          100,
		RateDuration:  10 * time.Second,
		MaxEvents:     store.DefaultMaxEvents,
		FillEvents:    store.DefaultMaxEvents,
		BallastMiB:    64,
	}
	if quick {
		o.Quick = true
		o.Duration = 400 * time.Millisecond
		o.Warmup = 100 * time.Millisecond
		o.FanoutEvents = 8
		o.RateDuration = 2 * time.Second
		// Filling Redis to 100,000 events takes seconds; a smaller log, filled to its bound,
		// still has every Start pay for retention.
		o.MaxEvents = quickMaxEvents
		o.FillEvents = quickMaxEvents
	}
	return o
}

// quickMaxEvents is the quick run's event log bound.
const quickMaxEvents = 20_000

// logBound is the gateway cases' event log bound, the stores' default when not given.
func (o Options) logBound() int {
	if o.MaxEvents > 0 {
		return o.MaxEvents
	}
	return store.DefaultMaxEvents
}

func (o Options) runs(c string) bool { return len(o.Cases) == 0 || slices.Contains(o.Cases, c) }

// Machine describes where the run happened.
type Machine struct {
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	CPUModel   string `json:"cpu_model"`
	GoVersion  string `json:"go_version"`
	OS         string `json:"os"`
}

// Row is one closed-loop case: the echo reference or a gateway RPC.
type Row struct {
	Case        string  `json:"case"`  // CaseEcho or CaseGateway
	Store       string  `json:"store"` // gateway rows
	Transport   string  `json:"transport"`
	RPC         string  `json:"rpc"`
	Concurrency int     `json:"concurrency"`
	Ops         int64   `json:"ops"`
	Errors      int64   `json:"errors"`
	QPS         float64 `json:"qps"`
	P50us       float64 `json:"p50_us"`
	P99us       float64 `json:"p99_us"`
	// AllocsPerOp and CPUusPerOp (CPU time, user and system, in µs) cover the whole process
	// (client, server and store client alike); StoreCPUusPerOp is the Redis server's CPU
	// time per request (0: not measured).
	AllocsPerOp     float64 `json:"allocs_per_op"`
	CPUusPerOp      float64 `json:"cpu_us_per_op"`
	StoreCPUusPerOp float64 `json:"store_cpu_us_per_op,omitempty"`
	// EchoQPS is the echo reference measured in turns with this case, at the same
	// concurrency; VsEcho is QPS / EchoQPS (0: no reference).
	EchoQPS    float64 `json:"echo_qps,omitempty"`
	VsEcho     float64 `json:"vs_echo"`
	FirstError string  `json:"first_error,omitempty"`
}

// StreamMemory is the memory of n idle streams, client and server ends together (both run in
// this process), per stream.
type StreamMemory struct {
	Server  string `json:"server"` // ServerGateway or ServerBare
	Streams int    `json:"streams"`
	// RSSPerStreamKB is the growth of VmRSS (/proc/self/status) per stream.
	RSSPerStreamKB float64 `json:"rss_per_stream_kb"`
	// HeapStackPerStreamKB is the growth of Go heap in use plus goroutine stacks per stream.
	HeapStackPerStreamKB float64 `json:"heap_stack_per_stream_kb"`
}

// FanoutRow is one fan-out phase.
type FanoutRow struct {
	Server  string  `json:"server"` // ServerGateway or ServerBare
	Phase   string  `json:"phase"`  // PhaseOneToAll or PhaseSteadyRate
	Streams int     `json:"streams"`
	Events  int     `json:"events"`
	Rate    float64 `json:"rate,omitempty"` // events per second, rate phases
	// Deliveries counts events received over all streams; Lost those expected and not
	// received; Duplicates those received twice; Ended the streams the server ended.
	Deliveries int64   `json:"deliveries"`
	Lost       int64   `json:"lost"`
	Duplicates int64   `json:"duplicates"`
	Ended      int64   `json:"ended"`
	P50us      float64 `json:"p50_us"`
	P99us      float64 `json:"p99_us"`
	MaxUs      float64 `json:"max_us"`
	// CPUusPerDelivery is the process's CPU time over the phase, client and server ends
	// together, per delivery: steadier from run to run than the latencies, which follow it.
	CPUusPerDelivery float64 `json:"cpu_us_per_delivery"`
	FirstError       string  `json:"first_error,omitempty"`
}

// E2ERow is one path of the end-to-end case.
type E2ERow struct {
	Path        string  `json:"path"`
	Ops         int64   `json:"ops"`
	Errors      int64   `json:"errors"`
	QPS         float64 `json:"qps"`
	P50us       float64 `json:"p50_us"`
	P99us       float64 `json:"p99_us"`
	AllocsPerOp float64 `json:"allocs_per_op"`
	FirstError  string  `json:"first_error,omitempty"`
}

// Report is everything one run measured.
type Report struct {
	Started      time.Time      `json:"started"`
	Elapsed      string         `json:"elapsed"`
	Quick        bool           `json:"quick"`
	Duration     string         `json:"duration_per_case"`
	Warmup       string         `json:"warmup_per_case"`
	BallastMiB   int            `json:"ballast_mib"`
	MaxEvents    int            `json:"event_log_bound"`
	FillEvents   int            `json:"fill_events"`
	Machine      Machine        `json:"machine"`
	PayloadBytes int            `json:"echo_payload_bytes"`
	Rows         []Row          `json:"rows"`
	StreamMemory []StreamMemory `json:"stream_memory"`
	Fanout       []FanoutRow    `json:"fanout"`
	E2E          []E2ERow       `json:"e2e"`
	Targets      []Target       `json:"targets"`
	Notes        []string       `json:"notes"`
}

type runner struct {
	o     Options
	rep   *Report
	start time.Time
	echo  op // the reference call, paired with every gateway case

	// The reference server and a connection to it (nil when neither echo nor gateway runs).
	ref     *echoServer
	refConn *grpc.ClientConn
	payload []byte
}

func (b *runner) progress(format string, args ...any) {
	if b.o.Progress != nil {
		fmt.Fprintf(b.o.Progress, "kycbench [%6.1fs] %s\n", time.Since(b.start).Seconds(), fmt.Sprintf(format, args...))
	}
}

func (b *runner) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.rep.Notes = append(b.rep.Notes, msg)
	b.progress("note: %s", msg)
}

// Run runs the benchmark and returns its report, targets evaluated. An error means the harness
// could not run (a server did not start, ctx ended); slow figures are not errors.
func Run(ctx context.Context, o Options) (*Report, error) {
	b := &runner{o: o, start: time.Now(), rep: &Report{
		Started: time.Now().UTC(), Quick: o.Quick, Duration: o.Duration.String(), Warmup: o.Warmup.String(),
		BallastMiB: o.BallastMiB, MaxEvents: o.logBound(), FillEvents: o.FillEvents, Machine: machine(),
	}}
	if o.BallastMiB > 0 {
		ballast := make([]byte, o.BallastMiB<<20)
		defer runtime.KeepAlive(ballast)
	}
	payload, err := proto.Marshal(startRequest("fake", "c-1000000", "k-1000000"))
	if err != nil {
		return nil, err
	}
	b.rep.PayloadBytes = len(payload)
	if o.runs(CaseEcho) || o.runs(CaseGateway) {
		e, err := startEcho(server.DefaultStreamQueueSize)
		if err != nil {
			return nil, fmt.Errorf("echo: %w", err)
		}
		defer e.stop()
		conn, err := dialGRPC(e.addr())
		if err != nil {
			return nil, fmt.Errorf("echo: %w", err)
		}
		defer conn.Close()
		b.echo = echoOp(conn, payload)
		b.ref, b.refConn, b.payload = e, conn, payload
	}
	if o.runs(CaseEcho) {
		if err := b.runEcho(ctx); err != nil {
			return nil, fmt.Errorf("echo: %w", err)
		}
	}
	if o.runs(CaseGateway) {
		for _, s := range o.Stores {
			if err := b.runGateway(ctx, s); err != nil {
				return nil, fmt.Errorf("gateway on %s: %w", s, err)
			}
		}
	}
	if o.runs(CaseFanout) {
		if err := b.runFanout(ctx); err != nil {
			return nil, fmt.Errorf("fan-out: %w", err)
		}
	}
	if o.runs(CaseE2E) {
		if err := b.runE2E(ctx); err != nil {
			return nil, fmt.Errorf("end to end: %w", err)
		}
	}
	b.rep.Elapsed = time.Since(b.start).Round(100 * time.Millisecond).String()
	b.rep.Targets = evaluate(b.rep, o)
	return b.rep, nil
}

// runEcho measures the reference on its own; the gateway cases measure it again, in turns
// with each case (see runPaired).
func (b *runner) runEcho(ctx context.Context) error {
	for _, c := range b.o.Concurrency {
		b.progress("echo: grpc-go unary, %d in flight", c)
		r := runLoad(ctx, c, b.o.Warmup, b.o.Duration, b.echo, nil)
		b.rep.Rows = append(b.rep.Rows, b.row(CaseEcho, "", transportGRPC, "Echo", c, r, nil))
	}
	return ctx.Err()
}

// row reports r; ref is its paired echo reference (nil: none).
func (b *runner) row(c, st, transport, rpc string, conc int, r loadResult, ref *loadResult) Row {
	s := summarize(r.samples)
	row := Row{
		Case: c, Store: st, Transport: transport, RPC: rpc, Concurrency: conc,
		Ops: r.ops, Errors: r.errors, QPS: r.qps(), P50us: micros(s.p50), P99us: micros(s.p99),
		AllocsPerOp: r.allocsPerOp(), CPUusPerOp: r.perOp(r.cpu), FirstError: errString(r.firstErr),
	}
	if r.storeCPUKnown {
		row.StoreCPUusPerOp = r.perOp(r.storeCPU)
	}
	if ref != nil && ref.qps() > 0 {
		row.EchoQPS = ref.qps()
		row.VsEcho = row.QPS / row.EchoQPS
		if ref.errors > 0 && row.FirstError == "" {
			row.FirstError = "echo reference: " + errString(ref.firstErr)
		}
	}
	return row
}

// newStore returns the named store, its Redis client (nil for the memory store) and what
// releases them.
func (b *runner) newStore(ctx context.Context, name string) (store.Store, redis.UniversalClient, func(), error) {
	switch name {
	case StoreMemory:
		return store.NewMemory(store.MemoryOptions{MaxEvents: b.o.MaxEvents}), nil, func() {}, nil
	case StoreRedis:
		rs, err := startRedis()
		if err != nil {
			return nil, nil, nil, err
		}
		// The options internal/app gives the production client (default pool size).
		client := redis.NewUniversalClient(&redis.UniversalOptions{
			Addrs:       []string{rs.addr},
			DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second,
		})
		st, err := store.NewRedis(store.RedisOptions{Client: client, MaxEvents: b.o.MaxEvents})
		if err == nil {
			err = st.Ping(ctx)
		}
		if err != nil {
			client.Close()
			rs.stop()
			return nil, nil, nil, err
		}
		return st, client, func() { client.Close(); rs.stop() }, nil
	}
	return nil, nil, nil, fmt.Errorf("unknown store %q (known: %s, %s)", name, StoreMemory, StoreRedis)
}

func (b *runner) runGateway(ctx context.Context, storeName string) error {
	st, client, release, err := b.newStore(ctx, storeName)
	if errors.Is(err, errNoRedis) {
		b.note("Redis rows skipped: %v", err)
		return nil
	}
	if err != nil {
		return err
	}
	defer release()
	var clock cpuClock
	if client != nil {
		clock = redisCPU(client)
	}
	if n := b.o.FillEvents; n > 0 {
		b.progress("gateway: %s store, filling the event log with %s events", storeName, thousands(n))
		if err := fillEvents(ctx, st, n); err != nil {
			return fmt.Errorf("filling the event log: %w", err)
		}
	}
	if err := b.gatewayCases(ctx, st, storeName, clock); err != nil {
		return err
	}
	if client != nil {
		return b.storeReferences(ctx, st, client, clock)
	}
	return nil
}

// gatewayCases runs the gateway's cases on st; clock times its server, if it has one.
func (b *runner) gatewayCases(ctx context.Context, st store.Store, storeName string, clock cpuClock) error {
	reg, err := providers.NewRegistry(instant{})
	if err != nil {
		return err
	}
	g, err := startGateway(ctx, serverConfig(st, reg, b.o.StreamQueueSize, 0))
	if err != nil {
		return err
	}
	defer g.stop()
	fx, err := g.prepare(ctx, "fake", slices.Max(b.o.Concurrency))
	if err != nil {
		return err
	}
	for _, r := range rpcs {
		for _, tr := range []string{transportGRPC, transportREST} {
			if !b.selected(r, tr) {
				continue
			}
			for _, c := range b.o.Concurrency {
				b.progress("gateway: %s store, %s %s, %d in flight", storeName, tr, r, c)
				res, ref := runPaired(ctx, c, b.o.Warmup, b.o.Duration, g.op(r, tr, "fake", fx), b.echo, clock)
				b.rep.Rows = append(b.rep.Rows, b.row(CaseGateway, storeName, tr, string(r), c, res, &ref))
			}
		}
	}
	return ctx.Err()
}

// storeReferences runs the store references (storeref.go) on the Redis store the gateway cases
// used, once the gateway has stopped, so its event tail does not share their CPU. They run
// with fresh Starts over gRPC, the case they explain (in a quick run, at the most requests in
// flight only).
func (b *runner) storeReferences(ctx context.Context, st store.Store, client redis.UniversalClient, clock cpuClock) error {
	if !b.selected(rpcStartFresh, transportGRPC) {
		return nil
	}
	a, ok := client.(interface {
		AutoPipeline() (*redis.AutoPipeliner, error)
	})
	if !ok {
		return fmt.Errorf("store references: %T has no automatic pipeline", client)
	}
	ap, err := a.AutoPipeline() // the client's one, which the store uses too; closed with it
	if err != nil {
		return err
	}
	// The size of the sealed response the gateway stores for the benchmark's Start (measured
	// in its idempotency record: 162 bytes).
	response := make([]byte, 162)
	for _, f := range []struct {
		rpc     string
		work    storeWork
		readers int
	}{
		{rpcRefPlain, plainWork(ap, b.payload, b.o.logBound()), 0},
		{rpcRefStore, startStoreWork(st, response), 0},
		{rpcRefReaders, startStoreWork(st, response), refReaders},
	} {
		b.ref.setWork(f.work)
		conc := b.o.Concurrency
		if b.o.Quick || f.readers > 0 {
			conc = []int{slices.Max(conc)} // the target's concurrency: the quick run stays under a minute
		}
		for _, c := range conc {
			b.progress("store reference: %s, %d in flight", f.rpc, c)
			if err := b.storeReference(ctx, st, client, f.rpc, c, f.readers, clock); err != nil {
				b.ref.setWork(nil)
				return err
			}
		}
	}
	b.ref.setWork(nil)
	return ctx.Err()
}

// storeReference runs one store reference row at c in flight, with that many other replicas'
// event readers following the log; each must have read every event by the end.
func (b *runner) storeReference(ctx context.Context, st store.Store, client redis.UniversalClient, rpc string, c, readers int, clock cpuClock) error {
	var er *eventReaders
	if readers > 0 {
		var err error
		if er, err = startEventReaders(ctx, client, readers, b.o.MaxEvents); err != nil {
			return err
		}
	}
	res, ref := runPaired(ctx, c, b.o.Warmup, b.o.Duration, storeOp(b.refConn, b.payload), b.echo, clock)
	if er != nil {
		last, err := st.LastEventID(ctx)
		if err == nil {
			err = er.caughtUp(last)
		}
		if err = errors.Join(err, er.stop()); err != nil {
			return fmt.Errorf("store reference %s: %w", rpc, err)
		}
	}
	b.rep.Rows = append(b.rep.Rows, b.row(CaseEcho, StoreRedis, transportGRPC, rpc, c, res, &ref))
	return nil
}

// selected reports whether the run includes rpc over transport.
func (b *runner) selected(r rpc, transport string) bool {
	return (len(b.o.RPCs) == 0 || slices.Contains(b.o.RPCs, string(r))) &&
		(len(b.o.Transports) == 0 || slices.Contains(b.o.Transports, transport))
}

// runFanout opens each number of streams to one gateway (memory store; events appended through
// the store, which the gateway's hub tails), measures their idle memory against as many bare
// grpc-go streams, then times the delivery of events to them. The same phases run first on the
// reference server's broadcast streams: the transport's floor for the same events.
func (b *runner) runFanout(ctx context.Context) error {
	counts := slices.Clone(b.o.FanoutStreams)
	if b.o.RateStreams > 0 && !slices.Contains(counts, b.o.RateStreams) {
		counts = append(counts, b.o.RateStreams)
	}
	slices.Sort(counts)
	st := store.NewMemory(store.MemoryOptions{})
	reg, err := providers.NewRegistry(instant{})
	if err != nil {
		return err
	}
	g, err := startGateway(ctx, serverConfig(st, reg, b.o.StreamQueueSize, counts[len(counts)-1]))
	if err != nil {
		return err
	}
	defer g.stop()
	echo, err := startEcho(cmp.Or(b.o.StreamQueueSize, server.DefaultStreamQueueSize))
	if err != nil {
		return err
	}
	defer echo.stop()

	for _, n := range counts {
		// The transport's floor: n idle streams of a bare grpc-go server.
		b.progress("fan-out: opening %d bare grpc-go streams", n)
		m0 := settledMemory()
		ref, err := openStreams(ctx, echo.addr(), n, idleStream, func() int { return int(echo.open.Load()) })
		if err != nil {
			return fmt.Errorf("bare streams: %w", err)
		}
		m1 := settledMemory()
		ref.close()
		b.rep.StreamMemory = append(b.rep.StreamMemory, perStream(ServerBare, n, m0, m1))

		if b.oneToAll(n) || b.steadyRate(n) {
			b.progress("fan-out: opening %d bare grpc-go broadcast streams", n)
			ref, err = openStreams(ctx, echo.addr(), n, broadcastStream, echo.listening)
			if err != nil {
				return fmt.Errorf("bare broadcast streams: %w", err)
			}
			err = b.fanoutPhases(ctx, ServerBare, ref, n, broadcastEvents(echo))
			ref.close()
			if err != nil {
				return err
			}
		}

		b.progress("fan-out: opening %d gateway streams", n)
		m0 = settledMemory()
		t0 := time.Now()
		ss, err := openStreams(ctx, g.srv.GRPCAddr().String(), n, gatewayStream, g.srv.Hub().Subscribers,
			grpc.WithPerRPCCredentials(bearer{}))
		if err != nil {
			return fmt.Errorf("gateway streams: %w", err)
		}
		opened := time.Since(t0)
		m1 = settledMemory()
		b.rep.StreamMemory = append(b.rep.StreamMemory, perStream(ServerGateway, n, m0, m1))
		b.progress("fan-out: %d streams open in %v", n, opened.Round(time.Millisecond))

		err = b.fanoutPhases(ctx, ServerGateway, ss, n, appendEvents(st))
		ss.close()
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}

// oneToAll and steadyRate report whether those delivery phases run with n streams.
func (b *runner) oneToAll(n int) bool {
	return slices.Contains(b.o.FanoutStreams, n) && b.o.FanoutEvents > 0
}
func (b *runner) steadyRate(n int) bool { return n == b.o.RateStreams && b.o.Rate > 0 }

func (b *runner) fanoutPhases(ctx context.Context, srv string, ss *streamSet, n int, publish publisher) error {
	const quiet = 5 * time.Second // no delivery for this long: the rest are lost
	if b.oneToAll(n) {
		// Each event is published once the previous one has reached every stream (and
		// FanoutGap later), so the phase times one event's fan-out, not a backlog.
		b.progress("fan-out: %s, %d streams, %d events, each to all, one at a time", srv, n, b.o.FanoutEvents)
		base := ss.delivered.Load()
		cpu0, _ := processCPU()
		for i := range b.o.FanoutEvents {
			if i > 0 {
				sleepCtx(ctx, b.o.FanoutGap)
			}
			if err := publish(ctx); err != nil {
				return err
			}
			ss.waitDelivered(ctx, base+int64((i+1)*n), quiet)
		}
		b.rep.Fanout = append(b.rep.Fanout, fanoutRow(srv, PhaseOneToAll, n, 0, ss.collect(b.o.FanoutEvents), cpu0))
	}
	if b.steadyRate(n) {
		b.progress("fan-out: %s, %d streams, %g events/s for %v", srv, n, b.o.Rate, b.o.RateDuration)
		base := ss.delivered.Load()
		cpu0, _ := processCPU()
		sent, err := publishAtRate(ctx, publish, b.o.Rate, b.o.RateDuration)
		if err != nil {
			return err
		}
		ss.waitDelivered(ctx, base+int64(sent*n), quiet)
		b.rep.Fanout = append(b.rep.Fanout, fanoutRow(srv, PhaseSteadyRate, n, b.o.Rate, ss.collect(sent), cpu0))
	}
	return ctx.Err()
}

// fanoutRow makes a phase's row; cpu0 is the process's CPU time when the phase began.
func fanoutRow(srv, phase string, n int, rate float64, pr phaseResult, cpu0 time.Duration) FanoutRow {
	row := FanoutRow{
		Server: srv, Phase: phase, Streams: n, Events: pr.events, Rate: rate,
		Deliveries: pr.delivered, Lost: pr.lost, Duplicates: pr.duplicates, Ended: pr.ended,
		P50us: micros(pr.lat.p50), P99us: micros(pr.lat.p99), MaxUs: micros(pr.lat.max),
		FirstError: errString(pr.firstErr),
	}
	if cpu1, ok := processCPU(); ok && pr.delivered > 0 {
		row.CPUusPerDelivery = float64((cpu1 - cpu0).Nanoseconds()) / 1e3 / float64(pr.delivered)
	}
	return row
}

func perStream(server string, n int, m0, m1 memSnapshot) StreamMemory {
	return StreamMemory{
		Server: server, Streams: n,
		RSSPerStreamKB:       float64(m1.rss-m0.rss) / 1024 / float64(n),
		HeapStackPerStreamKB: float64(m1.heapStack-m0.heapStack) / 1024 / float64(n),
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func machine() Machine {
	m := Machine{
		CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, CPUModel: "unknown",
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}
