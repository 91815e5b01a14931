package bench

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// loadResult is what one closed-loop run measured.
type loadResult struct {
	ops      int64 // successful operations started in the measured window
	errors   int64 // failed operations started in the measured window
	firstErr error
	elapsed  time.Duration
	samples  []time.Duration // latency of each successful operation (unsorted)
	mallocs  uint64          // heap allocations by the whole process during the window
	// cpu is the CPU time (user and system) of the whole process during the window;
	// storeCPU the store server's, when it has a clock (storeCPUKnown).
	cpu, storeCPU time.Duration
	storeCPUKnown bool
	merged        int // slices merged into this one
}

// cpuClock reads a process's CPU time used so far, user and system; false when it cannot.
type cpuClock func() (time.Duration, bool)

// processCPU is this process's cpuClock.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

// perOp divides d over the window's requests, in microseconds.
func (r loadResult) perOp(d time.Duration) float64 {
	if r.ops+r.errors == 0 {
		return 0
	}
	return float64(d.Microseconds()) / float64(r.ops+r.errors)
}

func (r loadResult) qps() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ops) / r.elapsed.Seconds()
}

func (r loadResult) allocsPerOp() float64 {
	if r.ops+r.errors == 0 {
		return 0
	}
	return float64(r.mallocs) / float64(r.ops+r.errors)
}

// op is one request. worker identifies the calling goroutine (0..conc-1), so an op can keep
// per-worker state without locks.
type op func(ctx context.Context, worker int) error

// runLoad keeps conc requests in flight: each worker issues op back to back. The first warmup
// is not measured (connections, caches, the collector's pacing settle); then for d every
// operation that starts is timed, and the process's allocation count and CPU time (and the
// store server's CPU time, with a storeClock) are read at both ends.
func runLoad(ctx context.Context, conc int, warmup, d time.Duration, fn op, storeClock cpuClock) loadResult {
	const (
		warming = iota
		measuring
		done
	)
	var phase atomic.Int32
	type worker struct {
		samples  []time.Duration
		errors   int64
		firstErr error
	}
	ws := make([]worker, conc)
	var wg sync.WaitGroup
	for w := range conc {
		wg.Go(func() {
			me := &ws[w]
			me.samples = make([]time.Duration, 0, 1024)
			for ctx.Err() == nil {
				p := phase.Load()
				if p == done {
					return
				}
				t0 := time.Now()
				err := fn(ctx, w)
				lat := time.Since(t0)
				if p != measuring {
					continue
				}
				if err != nil {
					me.errors++
					if me.firstErr == nil {
						me.firstErr = err
					}
					continue
				}
				me.samples = append(me.samples, lat)
			}
		})
	}
	sleepCtx(ctx, warmup)
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	cpu0, cpuOK := processCPU()
	store0, storeOK := readClock(storeClock)
	start := time.Now()
	phase.Store(measuring)
	sleepCtx(ctx, d)
	phase.Store(done)
	elapsed := time.Since(start)
	store1, storeOK1 := readClock(storeClock)
	cpu1, cpuOK1 := processCPU()
	runtime.ReadMemStats(&m1)
	wg.Wait()

	r := loadResult{elapsed: elapsed, mallocs: m1.Mallocs - m0.Mallocs}
	if cpuOK && cpuOK1 {
		r.cpu = cpu1 - cpu0
	}
	if storeOK && storeOK1 {
		r.storeCPU, r.storeCPUKnown = store1-store0, true
	}
	n := 0
	for _, w := range ws {
		n += len(w.samples)
	}
	r.samples = make([]time.Duration, 0, n)
	for _, w := range ws {
		r.samples = append(r.samples, w.samples...)
		r.errors += w.errors
		if r.firstErr == nil {
			r.firstErr = w.firstErr
		}
	}
	r.ops = int64(len(r.samples))
	return r
}

func readClock(c cpuClock) (time.Duration, bool) {
	if c == nil {
		return 0, false
	}
	return c()
}

// sleepCtx sleeps for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// pairedRounds is how many turns a case and its echo reference take.
const pairedRounds = 2

// merge adds r to m: samples, counts and allocations of several slices of one case.
func (m *loadResult) merge(r loadResult) {
	m.samples = append(m.samples, r.samples...)
	m.ops += r.ops
	m.errors += r.errors
	m.elapsed += r.elapsed
	m.mallocs += r.mallocs
	m.cpu += r.cpu
	m.storeCPU += r.storeCPU
	m.storeCPUKnown = r.storeCPUKnown && (m.merged == 0 || m.storeCPUKnown) // known in every slice
	m.merged++
	if m.firstErr == nil {
		m.firstErr = r.firstErr
	}
}

// runPaired measures fn and the echo reference at the same concurrency, taking turns in
// pairedRounds slices of d each, so both see the same machine: on a shared box the load
// changes from one minute to the next, and a ratio of figures taken minutes apart measures
// the neighbours. The turns go echo, fn, fn, echo, ...: each round reverses the one before,
// so a load that drifts steadily over the case weighs on both alike rather than on whichever
// always went second. The first slice of each gets the full warm-up, later ones a short one.
// storeClock, if any, times the store server during fn's slices.
func runPaired(ctx context.Context, conc int, warmup, d time.Duration, fn, echo op, storeClock cpuClock) (res, ref loadResult) {
	slice := max(d/pairedRounds, time.Millisecond)
	for round := range pairedRounds {
		w := warmup
		if round > 0 {
			w = warmup / 3
		}
		runRef := func() { ref.merge(runLoad(ctx, conc, w, slice, echo, nil)) }
		runFn := func() { res.merge(runLoad(ctx, conc, w, slice, fn, storeClock)) }
		if round%2 == 0 {
			runRef()
			runFn()
		} else {
			runFn()
			runRef()
		}
	}
	return res, ref
}
