// Command kycbench is `make bench`: it starts the gateway and its references in this process,
// measures them, and prints a table with every target of the project's performance targets next to
// what this run measured (PASS/MISS). Progress goes to stderr, the table to stdout, and --json
// writes the same figures for tools.
//
// Usage:
//
//	go run ./cmd/kycbench [--quick] [--json FILE] [--cpuprofile FILE] [--memprofile FILE]
//	                      [--cases echo,gateway,fanout,e2e] [--stores memory,redis] ...
//
// It reports; it never fails because a figure is slow. It exits non-zero only when the harness
// itself cannot run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kycgw/kycgw/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "kycbench:", err)
		os.Exit(1)
	}
}

type flags struct {
	opts                   bench.Options
	jsonPath               string
	cpuProfile, memProfile string
}

func parseFlags(args []string, stderr io.Writer) (flags, error) {
	fs := flag.NewFlagSet("kycbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "the quick run: shorter cases, finishes in under a minute")
	var f flags
	fs.StringVar(&f.jsonPath, "json", "", "also write the report as JSON to this `file`")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this `file`")
	fs.StringVar(&f.memProfile, "memprofile", "", "write an allocation profile (pprof allocs) at the end to this `file`")
	cases := fs.String("cases", "", "comma-separated case groups to run: echo, gateway, fanout, e2e (default all)")
	stores := fs.String("stores", "", "comma-separated stores for the gateway case: memory, redis (default both)")
	rpcList := fs.String("rpcs", "", `comma-separated gateway RPCs: "Start (fresh)", "Start (replay)", GetStatus (default all)`)
	transports := fs.String("transports", "", "comma-separated gateway transports: grpc, rest (default both)")
	duration := fs.Duration("duration", 0, "measured time per load case (default 2s, quick 400ms)")
	warmup := fs.Duration("warmup", 0, "unmeasured warm-up per load case (default 300ms, quick 100ms)")
	conc := fs.String("concurrency", "", "comma-separated requests in flight (default 1,64)")
	streams := fs.String("streams", "", "comma-separated stream counts for 'one event to all' (default 1000,10000)")
	events := fs.Int("events", 0, "events per 'one event to all' phase (default 20, quick 8)")
	rateStreams := fs.Int("rate-streams", 0, "streams of the steady-rate phase (default 1000)")
	rate := fs.Float64("rate", 0, "events per second of the steady-rate phase (default 100)")
	rateDuration := fs.Duration("rate-duration", 0, "length of the steady-rate phase (default 10s, quick 2s)")
	ballast := fs.Int("ballast", -1, "MiB of pointer-free heap ballast held for the run, to even GC pacing between cases (default 64; 0: none)")
	queue := fs.Int("stream-queue", 0, "server.Config.StreamQueueSize (default: the server's)")
	maxEvents := fs.Int("max-events", -1, "the gateway cases' event log bound, as kycgw's --event-max-len (default 100000, quick 20000)")
	fill := fs.Int("fill-events", -1, "events appended to each gateway case's store before it runs (default: the log's bound; 0: none)")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	// -1 is their "not given"; given, they must be counts.
	for name, v := range map[string]int{"ballast": *ballast, "fill-events": *fill} {
		if given(fs, name) && v < 0 {
			return f, fmt.Errorf("--%s: must be 0 or more, got %d", name, v)
		}
	}
	if given(fs, "max-events") && *maxEvents < 1 {
		return f, fmt.Errorf("--max-events: must be 1 or more, got %d", *maxEvents)
	}
	o := bench.DefaultOptions(*quick)
	var err error
	if *cases != "" {
		o.Cases = split(*cases)
	}
	if *stores != "" {
		o.Stores = split(*stores)
	}
	if *rpcList != "" {
		o.RPCs = split(*rpcList)
	}
	if *transports != "" {
		o.Transports = split(*transports)
	}
	if *conc != "" {
		if o.Concurrency, err = ints("concurrency", *conc); err != nil {
			return f, err
		}
	}
	if *streams != "" {
		if o.FanoutStreams, err = ints("streams", *streams); err != nil {
			return f, err
		}
	}
	setDur := func(dst *time.Duration, v time.Duration) {
		if v > 0 {
			*dst = v
		}
	}
	setDur(&o.Duration, *duration)
	setDur(&o.Warmup, *warmup)
	setDur(&o.RateDuration, *rateDuration)
	if *events > 0 {
		o.FanoutEvents = *events
	}
	if *rateStreams > 0 {
		o.RateStreams = *rateStreams
	}
	if *rate > 0 {
		o.Rate = *rate
	}
	o.StreamQueueSize = *queue
	if *ballast >= 0 {
		o.BallastMiB = *ballast
	}
	if *maxEvents > 0 {
		o.MaxEvents, o.FillEvents = *maxEvents, *maxEvents
	}
	if *fill >= 0 {
		o.FillEvents = *fill
	}
	f.opts = o
	return f, nil
}

// given reports whether flag name was set on the command line.
func given(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func split(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func ints(name, s string) ([]int, error) {
	var out []int
	for _, p := range split(s) {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("--%s: %q is not a positive integer", name, p)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--%s: empty", name)
	}
	return out, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	f, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	f.opts.Progress = stderr
	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, pf.Close()) }()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	rep, err := bench.Run(ctx, f.opts)
	if err != nil {
		return err
	}
	if f.memProfile != "" {
		runtime.GC()
		if err := writeFile(f.memProfile, func(w io.Writer) error { return pprof.Lookup("allocs").WriteTo(w, 0) }); err != nil {
			return err
		}
	}
	if f.jsonPath != "" {
		if err := writeFile(f.jsonPath, rep.WriteJSON); err != nil {
			return err
		}
	}
	return rep.WriteTable(stdout)
}

func writeFile(path string, write func(io.Writer) error) (err error) {
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, out.Close()) }()
	return write(out)
}
