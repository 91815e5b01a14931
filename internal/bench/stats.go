package bench

import (
	"bufio"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"
)

// percentile returns the q-quantile (0 < q <= 1) of sorted samples by the nearest-rank method,
// or 0 when there are none.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// summary is the distribution of a set of latencies.
type summary struct {
	n             int
	p50, p99, max time.Duration
}

// summarize sorts samples in place and summarizes them.
func summarize(samples []time.Duration) summary {
	slices.Sort(samples)
	s := summary{n: len(samples), p50: percentile(samples, 0.50), p99: percentile(samples, 0.99)}
	if len(samples) > 0 {
		s.max = samples[len(samples)-1]
	}
	return s
}

// micros is d in microseconds, for the report.
func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// memSnapshot is the process's memory at one moment.
type memSnapshot struct {
	rss       int64 // VmRSS from /proc/self/status (0 where there is no /proc)
	heapStack int64 // Go heap in use plus goroutine stacks
}

// settledMemory collects garbage, returns freed memory to the OS and takes a snapshot, so two
// snapshots compare what is live rather than what the collector has not reclaimed yet.
func settledMemory() memSnapshot {
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSnapshot{rss: vmRSS(), heapStack: int64(ms.HeapInuse + ms.StackInuse)}
}

// vmRSS returns the resident set size of this process in bytes, or 0 if it cannot be read.
func vmRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest) // "123456 kB"
		if len(fields) == 0 {
			return 0
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}
