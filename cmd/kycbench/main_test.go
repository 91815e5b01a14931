package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kycgw/kycgw/internal/bench"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestHarness runs every case on tiny sizes (memory store only) so the harness cannot rot: it
// checks that every row is produced, nothing failed and no event was lost. It asserts nothing
// about timing.
func TestHarness(t *testing.T) {
	rep, stdout := runHarness(t, "--stores", "memory",
		"--streams", "20", "--events", "3", "--rate-streams", "20", "--rate", "50", "--rate-duration", "100ms")
	var want []string
	for _, c := range []int{1, 8} {
		want = append(want, fmt.Sprintf("echo//grpc/Echo/%d", c))
		for _, rpc := range []string{"Start (fresh)", "Start (replay)", "GetStatus"} {
			for _, tr := range []string{"grpc", "rest"} {
				want = append(want, fmt.Sprintf("gateway/memory/%s/%s/%d", tr, rpc, c))
			}
		}
	}
	checkRows(t, rep, want)

	if got := len(rep.StreamMemory); got != 2 {
		t.Errorf("got %d idle-stream memory rows, want 2 (bare, gateway)", got)
	}
	phases := map[string]bench.FanoutRow{}
	for _, f := range rep.Fanout {
		phases[f.Server+"/"+f.Phase] = f
	}
	for _, srv := range []string{bench.ServerBare, bench.ServerGateway} {
		for _, p := range []string{bench.PhaseOneToAll, bench.PhaseSteadyRate} {
			f, ok := phases[srv+"/"+p]
			switch {
			case !ok:
				t.Errorf("fan-out %s %q missing", srv, p)
			case f.Lost != 0 || f.Duplicates != 0 || f.Ended != 0:
				t.Errorf("fan-out %s %q: lost %d, duplicates %d, ended %d (%s), want 0", srv, p, f.Lost, f.Duplicates, f.Ended, f.FirstError)
			case f.Events == 0 || f.Deliveries != int64(f.Events*f.Streams):
				t.Errorf("fan-out %s %q: %d deliveries of %d events to %d streams", srv, p, f.Deliveries, f.Events, f.Streams)
			case f.P50us <= 0:
				t.Errorf("fan-out %s %q: no latency measured", srv, p)
			case f.CPUusPerDelivery <= 0:
				t.Errorf("fan-out %s %q: no CPU time per delivery measured", srv, p)
			}
		}
	}
	if len(rep.Fanout) != 4 {
		t.Errorf("got %d fan-out rows, want 4", len(rep.Fanout))
	}
	for _, tg := range rep.Targets {
		if strings.HasPrefix(tg.Figure, "fan-out") && !strings.Contains(tg.Note, "bare grpc-go: p99") {
			t.Errorf("target %q: no bare grpc-go figure in its note %q", tg.Figure, tg.Note)
		}
	}
	if len(rep.E2E) != 3 {
		t.Errorf("got %d end-to-end rows, want 3", len(rep.E2E))
	}
	for _, e := range rep.E2E {
		if e.Ops == 0 || e.Errors != 0 {
			t.Errorf("end to end %q: %d ops, %d errors (%s)", e.Path, e.Ops, e.Errors, e.FirstError)
		}
	}

	results := map[string]int{}
	for _, tg := range rep.Targets {
		results[tg.Result]++
		if strings.Contains(tg.Figure, "Redis") || strings.Contains(tg.Figure, "redis") {
			if tg.Result != bench.Skip {
				t.Errorf("target %q: %s without a Redis run, want %s", tg.Figure, tg.Result, bench.Skip)
			}
		} else if tg.Result == bench.Skip {
			t.Errorf("target %q not evaluated", tg.Figure)
		}
	}
	if results[bench.Pass]+results[bench.Miss]+results[bench.Skip] != len(rep.Targets) || len(rep.Targets) < 8 {
		t.Errorf("targets: %v", results)
	}

	out := stdout
	for _, s := range []string{"Closed loop", "Idle streams", "Fan-out", "End to end", "Targets"} {
		if !strings.Contains(out, s) {
			t.Errorf("table has no %q section:\n%s", s, out)
		}
	}
}

// TestHarnessRedis runs the closed-loop cases on Redis at tiny sizes: the gateway's rows, the
// store references, and the Redis server's CPU time in each. Timing is not asserted.
func TestHarnessRedis(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server not found on PATH: Redis tests must run in CI")
		}
		t.Skip("redis-server not found on PATH")
	}
	rep, _ := runHarness(t, "--cases", "echo,gateway", "--stores", "redis",
		"--rpcs", "Start (fresh),GetStatus", "--transports", "grpc")
	var want []string
	for _, c := range []int{1, 8} {
		want = append(want, fmt.Sprintf("echo//grpc/Echo/%d", c),
			fmt.Sprintf("gateway/redis/grpc/Start (fresh)/%d", c),
			fmt.Sprintf("gateway/redis/grpc/GetStatus/%d", c))
	}
	// A quick run has the store references at the most requests in flight only.
	want = append(want, "echo/redis/grpc/Echo + SET NX, XADD/8", "echo/redis/grpc/Echo + Start's store calls/8",
		"echo/redis/grpc/Echo + Start's store calls, 8 replicas' event readers/8")
	checkRows(t, rep, want)
	for _, r := range rep.Rows {
		if r.Store == bench.StoreRedis && r.StoreCPUusPerOp <= 0 {
			t.Errorf("row %s %s %d: no Redis CPU time measured", r.Case, r.RPC, r.Concurrency)
		}
	}
	for _, tg := range rep.Targets {
		if strings.Contains(tg.Figure, "Redis store") && tg.Result == bench.Skip {
			t.Errorf("target %q not evaluated on a Redis run", tg.Figure)
		}
		if strings.HasPrefix(tg.Figure, "Start (fresh) gRPC QPS") &&
			(!strings.Contains(tg.Note, "SET NX, XADD: ") || !strings.Contains(tg.Note, "Start's store calls: ") ||
				!strings.Contains(tg.Note, "each reader per event: ")) {
			t.Errorf("target %q: note %q does not set the store references beside it", tg.Figure, tg.Note)
		}
	}
}

// runHarness runs the benchmark at tiny sizes with args added, and returns its JSON report
// and its table.
func runHarness(t *testing.T, args ...string) (*bench.Report, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	jsonPath := filepath.Join(t.TempDir(), "report.json")
	var stdout, stderr bytes.Buffer
	err := run(ctx, append([]string{
		"--quick", "--json", jsonPath, "--duration", "50ms", "--warmup", "10ms", "--concurrency", "1,8", "--ballast", "0",
		"--fill-events", "300",
	}, args...), &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("decoding the JSON report: %v", err)
	}
	return &rep, stdout.String()
}

// checkRows checks that the report has exactly the closed-loop rows want (case/store/
// transport/rpc/in flight), each with requests, no errors, its CPU time and, beside the
// standalone echo rows, a ratio to its paired echo run.
func checkRows(t *testing.T, rep *bench.Report, want []string) {
	t.Helper()
	rows := map[string]bench.Row{}
	for _, r := range rep.Rows {
		rows[fmt.Sprintf("%s/%s/%s/%s/%d", r.Case, r.Store, r.Transport, r.RPC, r.Concurrency)] = r
	}
	for _, k := range want {
		r, ok := rows[k]
		switch {
		case !ok:
			t.Errorf("row %s missing", k)
		case r.Ops == 0 || r.Errors != 0:
			t.Errorf("row %s: %d ops, %d errors (%s), want some ops and no errors", k, r.Ops, r.Errors, r.FirstError)
		case r.CPUusPerOp <= 0:
			t.Errorf("row %s: no CPU time measured", k)
		case r.Store != "" && r.VsEcho <= 0:
			t.Errorf("row %s: no ratio to the echo reference", k)
		}
	}
	if len(rep.Rows) != len(want) {
		t.Errorf("got %d closed-loop rows, want %d", len(rep.Rows), len(want))
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--concurrency", "0"},
		{"--streams", "x"},
		{"extra"},
		{"--no-such-flag"},
		{"--fill-events", "-1"},
		{"--ballast", "-5"},
		{"--max-events", "0"},
		{"--max-events", "-5"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) = nil error, want one", args)
		}
	}
}

// TestEventLogFlags: the log's bound and its fill, by default and as given: the fill follows
// the bound unless it is given too.
func TestEventLogFlags(t *testing.T) {
	for _, tc := range []struct {
		args            []string
		maxEvents, fill int
	}{
		{nil, 100_000, 100_000},
		{[]string{"--quick"}, 20_000, 20_000},
		{[]string{"--max-events", "5000"}, 5000, 5000},
		{[]string{"--quick", "--max-events", "5000", "--fill-events", "10"}, 5000, 10},
		{[]string{"--fill-events", "0"}, 100_000, 0},
	} {
		f, err := parseFlags(tc.args, io.Discard)
		if err != nil {
			t.Fatalf("parseFlags(%q): %v", tc.args, err)
		}
		if f.opts.MaxEvents != tc.maxEvents || f.opts.FillEvents != tc.fill {
			t.Errorf("parseFlags(%q): bound %d, fill %d; want %d, %d", tc.args, f.opts.MaxEvents, f.opts.FillEvents, tc.maxEvents, tc.fill)
		}
	}
}
