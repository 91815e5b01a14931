package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// Target results.
const (
	Pass = "PASS"
	Miss = "MISS"
	Skip = "SKIP" // not measured in this run
)

// Target is one line of PERFORMANCE.md's targets with what this run measured.
type Target struct {
	Figure   string `json:"figure"`
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Result   string `json:"result"`
	Note     string `json:"note,omitempty"`
}

// fanoutRow is srv's row of phase with the given number of streams (0: the most streams).
func (r *Report) fanoutRow(srv, phase string, streams int) *FanoutRow {
	var best *FanoutRow
	for i, f := range r.Fanout {
		if f.Server != srv || f.Phase != phase {
			continue
		}
		if f.Streams == streams {
			return &r.Fanout[i]
		}
		if streams == 0 && (best == nil || f.Streams > best.Streams) {
			best = &r.Fanout[i]
		}
	}
	return best
}

func (r *Report) gatewayRow(st, transport, rpc string, conc int) (Row, bool) {
	return r.findRow(CaseGateway, st, transport, rpc, conc)
}

func (r *Report) findRow(c, st, transport, rpc string, conc int) (Row, bool) {
	for _, row := range r.Rows {
		if row.Case == c && row.Store == st && row.Transport == transport && row.RPC == rpc && row.Concurrency == conc {
			return row, true
		}
	}
	return Row{}, false
}

// storeReferenceNote sets a Redis Start row beside the store references at its concurrency:
// their ratios, and the CPU each request took in this process and in Redis; with the event
// readers' reference, what each further replica's reader adds per event (its row's CPU less
// the store calls' row's, shared out among the readers).
func (r *Report) storeReferenceNote(start Row) string {
	cpu := func(x Row) string { return fmt.Sprintf("%.0f+%.0f µs", x.CPUusPerOp, x.StoreCPUusPerOp) }
	parts := []string{"CPU/op (process+Redis) " + cpu(start)}
	var calls Row
	for _, ref := range []string{rpcRefPlain, rpcRefStore, rpcRefReaders} {
		x, ok := r.findRow(CaseEcho, StoreRedis, transportGRPC, ref, start.Concurrency)
		if !ok || x.VsEcho <= 0 {
			continue
		}
		note := fmt.Sprintf("bare grpc-go %s: %.2f x, %s", strings.TrimPrefix(ref, "Echo "), x.VsEcho, cpu(x))
		switch ref {
		case rpcRefStore:
			calls = x
		case rpcRefReaders:
			if calls.Ops > 0 {
				note += fmt.Sprintf(" (each reader per event: %+.0f%+.0f µs)",
					(x.CPUusPerOp-calls.CPUusPerOp)/refReaders, (x.StoreCPUusPerOp-calls.StoreCPUusPerOp)/refReaders)
			}
		}
		parts = append(parts, note)
	}
	return strings.Join(parts, "; ")
}

func passIf(ok bool) string {
	if ok {
		return Pass
	}
	return Miss
}

// errorsNote makes a row with failed requests miss whatever its figures say.
func errorsNote(t *Target, rows ...Row) {
	for _, r := range rows {
		if r.Errors > 0 {
			t.Result = Miss
			t.Note = fmt.Sprintf("%d failed requests: %s", r.Errors, r.FirstError)
		}
	}
}

// evaluate checks the report against PERFORMANCE.md's targets.
func evaluate(r *Report, o Options) []Target {
	var ts []Target
	const hi = 64
	conc := slices.Clone(o.Concurrency)
	top := hi
	if len(conc) > 0 {
		top = slices.Max(conc)
	}
	topNote := ""
	if top != hi {
		topNote = fmt.Sprintf("measured at %d in flight, not %d", top, hi)
	}

	vsEcho := func(rpc string, min float64) {
		t := Target{
			Figure: fmt.Sprintf("%s gRPC QPS at %d in flight, Redis store", rpc, hi),
			Target: fmt.Sprintf(">= %.2f x echo", min), Result: Skip, Note: topNote,
		}
		row, ok := r.gatewayRow(StoreRedis, transportGRPC, rpc, top)
		switch {
		case !ok:
			t.Measured = "not measured"
		case row.VsEcho == 0:
			t.Measured, t.Note = fmt.Sprintf("%.0f/s", row.QPS), "no echo reference measured"
		default:
			t.Measured = fmt.Sprintf("%.2f x echo (%.0f/s vs %.0f/s)", row.VsEcho, row.QPS, row.EchoQPS)
			t.Result = passIf(row.VsEcho >= min)
			if rpc == string(rpcStartFresh) {
				t.Note = r.storeReferenceNote(row)
			}
			errorsNote(&t, row)
		}
		ts = append(ts, t)
	}
	vsEcho(string(rpcGetStatus), 0.6)
	vsEcho(string(rpcStartFresh), 0.35)

	for _, st := range o.Stores {
		for _, tr := range []string{transportGRPC, transportREST} {
			t := Target{
				Figure: fmt.Sprintf("Start (fresh) p99 at %d in flight, %s, %s store", hi, tr, st),
				Target: "<= 10 ms", Result: Skip, Measured: "not measured", Note: topNote,
			}
			if row, ok := r.gatewayRow(st, tr, string(rpcStartFresh), top); ok {
				t.Measured = fmtUs(row.P99us)
				t.Result = passIf(row.P99us <= 10_000)
				errorsNote(&t, row)
			}
			ts = append(ts, t)
		}
	}
	for _, st := range o.Stores {
		for _, rpc := range rpcs {
			for _, c := range conc {
				t := Target{
					Figure: fmt.Sprintf("REST QPS / gRPC QPS, %s, %d in flight, %s store", rpc, c, st),
					Target: ">= 0.5", Result: Skip, Measured: "not measured",
				}
				g, okg := r.gatewayRow(st, transportGRPC, string(rpc), c)
				h, okh := r.gatewayRow(st, transportREST, string(rpc), c)
				if okg && okh && g.QPS > 0 {
					// Each was measured in turns with its own echo run: comparing their echo
					// ratios cancels the machine's load changing between the two cases.
					ratio, how := h.QPS/g.QPS, "raw"
					if g.VsEcho > 0 && h.VsEcho > 0 {
						ratio, how = h.VsEcho/g.VsEcho, "echo-normalized"
					}
					t.Measured = fmt.Sprintf("%.2f %s (%.0f/s vs %.0f/s)", ratio, how, h.QPS, g.QPS)
					t.Result = passIf(ratio >= 0.5)
					errorsNote(&t, g, h)
				}
				ts = append(ts, t)
			}
		}
	}

	fan := func(phase string, streams int, what string, p99us float64) {
		t := Target{
			Figure: fmt.Sprintf("fan-out, %s streams, %s", thousands(streams), what),
			Target: fmt.Sprintf("p99 <= %s, 0 lost", fmtUs(p99us)), Result: Skip, Measured: "not measured",
		}
		best := r.fanoutRow(ServerGateway, phase, 0)
		if best != nil {
			t.Measured = fmt.Sprintf("p99 %s, %d lost", fmtUs(best.P99us), best.Lost)
			t.Result = passIf(best.P99us <= p99us && best.Lost == 0 && best.Deliveries > 0)
			var notes []string
			if best.Streams != streams {
				notes = append(notes, fmt.Sprintf("measured with %s streams, not %s", thousands(best.Streams), thousands(streams)))
			}
			if bare := r.fanoutRow(ServerBare, phase, best.Streams); bare != nil && bare.P99us > 0 {
				notes = append(notes, fmt.Sprintf("bare grpc-go: p99 %s, %d lost (gateway %.2f x)", fmtUs(bare.P99us), bare.Lost, best.P99us/bare.P99us))
			}
			if best.Ended > 0 {
				notes = append(notes, fmt.Sprintf("%d streams ended by the server: %s", best.Ended, best.FirstError))
			}
			t.Note = strings.Join(notes, "; ")
		}
		ts = append(ts, t)
	}
	fan(PhaseOneToAll, 10_000, "one event to all", 100_000)
	fan(PhaseSteadyRate, 1_000, "x 100 events/s", 20_000)

	mem := Target{Figure: "resident memory per idle stream", Target: "<= 40 KB", Result: Skip, Measured: "not measured"}
	var gw *StreamMemory
	for i, m := range r.StreamMemory {
		if m.Server == ServerGateway && (gw == nil || m.Streams > gw.Streams) {
			gw = &r.StreamMemory[i]
		}
	}
	if gw != nil {
		mem.Measured = fmt.Sprintf("%.1f KB RSS (%s streams, client and server ends)", gw.RSSPerStreamKB, thousands(gw.Streams))
		mem.Result = passIf(gw.RSSPerStreamKB <= 40)
		for _, m := range r.StreamMemory {
			if m.Server == ServerBare && m.Streams == gw.Streams {
				mem.Note = fmt.Sprintf("a bare grpc-go stream costs %.1f KB both ends; the gateway adds %.1f KB",
					m.RSSPerStreamKB, gw.RSSPerStreamKB-m.RSSPerStreamKB)
			}
		}
	}
	ts = append(ts, mem)

	e2e := Target{Figure: "end to end Start vs plain HTTP POST to the emulator", Target: "gateway adds <= 0.5 ms at p50", Result: Skip, Measured: "not measured"}
	var plain, viaGW *E2ERow
	for i, e := range r.E2E {
		switch e.Path {
		case pathPlain:
			plain = &r.E2E[i]
		case pathGatewayGRPC:
			viaGW = &r.E2E[i]
		}
	}
	if plain != nil && viaGW != nil {
		added := viaGW.P50us - plain.P50us
		ratio := 0.0
		if plain.P50us > 0 {
			ratio = viaGW.P50us / plain.P50us
		}
		e2e.Measured = fmt.Sprintf("adds %s (p50 %s vs %s, %.2f x)", fmtUs(added), fmtUs(viaGW.P50us), fmtUs(plain.P50us), ratio)
		e2e.Result = passIf(added <= 500)
		if plain.Errors > 0 || viaGW.Errors > 0 {
			e2e.Result = Miss
			e2e.Note = "failed requests: " + viaGW.FirstError + plain.FirstError
		}
	}
	ts = append(ts, e2e)
	return ts
}

// fmtUs formats microseconds for people: 64µs, 1.23ms, 1.5s.
func fmtUs(us float64) string {
	switch a := max(us, -us); {
	case a < 1000:
		return fmt.Sprintf("%.0fµs", us)
	case a < 1_000_000:
		return fmt.Sprintf("%.2fms", us/1000)
	}
	return fmt.Sprintf("%.2fs", us/1_000_000)
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// WriteTable prints the report for people.
func (r *Report) WriteTable(w io.Writer) error {
	mode := "full run"
	if r.Quick {
		mode = "quick run"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "kycbench: %s, %s, %s per case after %s warm-up, took %s\n", r.Started.Format("2006-01-02 15:04 MST"), mode, r.Duration, r.Warmup, r.Elapsed)
	fmt.Fprintf(&b, "GC: %d MiB heap ballast (evens GC pacing between cases; --ballast 0 to drop it)\n", r.BallastMiB)
	fmt.Fprintf(&b, "Event log: bound %s events, %s appended before the gateway cases\n", thousands(r.MaxEvents), thousands(r.FillEvents))
	fmt.Fprintf(&b, "machine: %d CPUs (GOMAXPROCS %d), %s, %s %s\n", r.Machine.CPUs, r.Machine.GOMAXPROCS, r.Machine.CPUModel, r.Machine.GoVersion, r.Machine.OS)

	tw := func(title string, header string, rows func(io.Writer)) {
		fmt.Fprintf(&b, "\n%s\n", title)
		t := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(t, header)
		rows(t)
		t.Flush()
	}
	if len(r.Rows) > 0 {
		tw(fmt.Sprintf("Closed loop: QPS over the measured window. Each gateway case takes turns (%d slices each, echo, case, case,\n"+
			"echo) with the echo reference at the same concurrency: echo QPS is that paired run, x echo = QPS / echo QPS. allocs/op = heap\n"+
			"allocations and cpu/op = CPU time of the whole process (client, server, store client) per request; redis\n"+
			"cpu/op = the Redis server's. Echo payload %d bytes.", pairedRounds, r.PayloadBytes),
			"case\tstore\ttransport\trpc\tin flight\tQPS\techo QPS\tx echo\tp50\tp99\tallocs/op\tcpu/op\tredis cpu/op\terrors",
			func(w io.Writer) {
				for _, x := range r.Rows {
					ratio, echo := "-", "-"
					if x.VsEcho > 0 {
						ratio, echo = fmt.Sprintf("%.2f", x.VsEcho), fmt.Sprintf("%.0f", x.EchoQPS)
					}
					redisCPU := "-"
					if x.StoreCPUusPerOp > 0 {
						redisCPU = fmt.Sprintf("%.0fµs", x.StoreCPUusPerOp)
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%.0f\t%s\t%s\t%s\t%s\t%.0f\t%.0fµs\t%s\t%d\n", x.Case, orDash(x.Store), x.Transport, x.RPC,
						x.Concurrency, x.QPS, echo, ratio, fmtUs(x.P50us), fmtUs(x.P99us), x.AllocsPerOp, x.CPUusPerOp, redisCPU, x.Errors)
				}
			})
	}
	if len(r.StreamMemory) > 0 {
		tw("Idle streams: memory growth per stream, client and server ends together (both in this process);\n"+
			"RSS from /proc/self/status VmRSS, heap+stacks from runtime.MemStats (HeapInuse + StackInuse), after GC.",
			"server\tstreams\tRSS per stream\theap+stacks per stream",
			func(w io.Writer) {
				for _, m := range r.StreamMemory {
					fmt.Fprintf(w, "%s\t%s\t%.1f KB\t%.1f KB\n", m.Server, thousands(m.Streams), m.RSSPerStreamKB, m.HeapStackPerStreamKB)
				}
			})
	}
	if len(r.Fanout) > 0 {
		tw("Fan-out: gRPC StreamEvents on one gateway (memory store), events appended with Store.Apply; first the\n"+
			"same events on a bare grpc-go server's broadcast streams (a bounded queue and a goroutine per stream, each\n"+
			"event encoded once), the transport's floor. Latency = receive time - the event's received_at (set at\n"+
			"append or broadcast). Lost = expected and not received. cpu/delivery = CPU time of the whole process\n"+
			"(server and client ends) over the phase, per delivery.",
			"server\tphase\tstreams\tevents\trate\tdeliveries\tlost\tdup\tended\tp50\tp99\tmax\tcpu/delivery",
			func(w io.Writer) {
				for _, f := range r.Fanout {
					rate := "-"
					if f.Rate > 0 {
						rate = fmt.Sprintf("%g/s", f.Rate)
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%.1fµs\n", f.Server, f.Phase, thousands(f.Streams), f.Events, rate,
						f.Deliveries, f.Lost, f.Duplicates, f.Ended, fmtUs(f.P50us), fmtUs(f.P99us), fmtUs(f.MaxUs), f.CPUusPerDelivery)
				}
			})
	}
	if len(r.E2E) > 0 {
		tw(fmt.Sprintf("End to end: one request in flight, Bond emulator under httptest; the paths take turns in %d rounds.", e2eRounds),
			"path\trequests\tQPS\tp50\tp99\tallocs/op\terrors",
			func(w io.Writer) {
				for _, e := range r.E2E {
					fmt.Fprintf(w, "%s\t%d\t%.0f\t%s\t%s\t%.0f\t%d\n", e.Path, e.Ops, e.QPS, fmtUs(e.P50us), fmtUs(e.P99us), e.AllocsPerOp, e.Errors)
				}
			})
	}
	if len(r.Targets) > 0 {
		tw("Targets (the project's performance targets)", "figure\ttarget\tmeasured\tresult\tnote",
			func(w io.Writer) {
				for _, t := range r.Targets {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", t.Figure, t.Target, t.Measured, t.Result, t.Note)
				}
			})
	}
	var errs []string
	for _, x := range r.Rows {
		if x.FirstError != "" {
			errs = append(errs, fmt.Sprintf("%s %s %s %s c=%d: %s", x.Case, x.Store, x.Transport, x.RPC, x.Concurrency, x.FirstError))
		}
	}
	for _, e := range r.E2E {
		if e.FirstError != "" {
			errs = append(errs, e.Path+": "+e.FirstError)
		}
	}
	for _, f := range r.Fanout {
		if f.FirstError != "" {
			errs = append(errs, fmt.Sprintf("fan-out %s %s %d: %s", f.Server, f.Phase, f.Streams, f.FirstError))
		}
	}
	if notes := append(slices.Clone(r.Notes), errs...); len(notes) > 0 {
		fmt.Fprintf(&b, "\nNotes\n")
		for _, n := range notes {
			fmt.Fprintf(&b, "  - %s\n", n)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report for tools.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
