package bench

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
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
// operation that starts is timed, and the process's allocation count is read at both ends.
func runLoad(ctx context.Context, conc int, warmup, d time.Duration, fn op) loadResult {
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
	start := time.Now()
	phase.Store(measuring)
	sleepCtx(ctx, d)
	phase.Store(done)
	elapsed := time.Since(start)
	runtime.ReadMemStats(&m1)
	wg.Wait()

	r := loadResult{elapsed: elapsed, mallocs: m1.Mallocs - m0.Mallocs}
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
	if m.firstErr == nil {
		m.firstErr = r.firstErr
	}
}

// runPaired measures fn and the echo reference at the same concurrency, taking turns in
// pairedRounds slices of d each, so both see the same machine: on a shared box the load
// changes from one minute to the next, and a ratio of figures taken minutes apart measures
// the neighbours. The first slice of each gets the full warm-up, later ones a short one.
func runPaired(ctx context.Context, conc int, warmup, d time.Duration, fn, echo op) (res, ref loadResult) {
	slice := max(d/pairedRounds, time.Millisecond)
	for round := range pairedRounds {
		w := warmup
		if round > 0 {
			w = warmup / 3
		}
		ref.merge(runLoad(ctx, conc, w, slice, echo))
		res.merge(runLoad(ctx, conc, w, slice, fn))
	}
	return res, ref
}
