package resilience

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Retryable reports whether req may be sent more than once: GET and HEAD, and POST, PUT and
// PATCH carrying an Idempotency-Key header (the provider answers a repeat from its record of
// the key instead of acting twice). Everything else gets exactly one attempt, because a
// request that timed out may still have been acted on.
func Retryable(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, "":
		return true // "" is GET to net/http
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		return hasIdempotencyKey(req.Header)
	}
	return false
}

// hasIdempotencyKey finds the header under any spelling: adapters may set it with a
// non-canonical key, as CloudPayments' do for its own headers.
func hasIdempotencyKey(h http.Header) bool {
	for k, v := range h {
		if strings.EqualFold(k, "Idempotency-Key") && len(v) > 0 && v[0] != "" {
			return true
		}
	}
	return false
}

// RetryableStatus reports whether a response with this status is worth another attempt of a
// Retryable request:
//
//   - 429, 502, 503 and 504 say the provider or a proxy in front of it is overloaded, down
//     or restarting;
//   - 500 too: the request is safe to repeat by the time this is asked, and providers answer
//     500 for transient failures (a lost database connection) as often as for bugs, so a
//     bounded retry is cheap insurance;
//   - other 5xx (501 Not Implemented, 505, 507, 508, 511) and every 4xx but 429 will not
//     change on a repeat.
func RetryableStatus(code int) bool {
	switch code {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// maxRetryAfter bounds a Retry-After in seconds before it is turned into a Duration, so a huge
// value cannot overflow; the Transport caps it much lower anyway.
const maxRetryAfter = 24 * 60 * 60

// parseRetryAfter reads a Retry-After value (RFC 9110 §10.2.3): delay-seconds or an HTTP date.
// A date in the past means no wait. ok is false for an absent or malformed value.
func parseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			if ne, isNum := err.(*strconv.NumError); isNum && ne.Err == strconv.ErrRange {
				return maxRetryAfter * time.Second, true
			}
			return 0, false
		}
		return time.Duration(min(n, maxRetryAfter)) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// backoff is the wait before retry n (1 for the first): a random duration in [d/2, d] with
// d = min(base*2^(n-1), maxDelay). Half is kept fixed so that retries never bunch up at zero.
func backoff(base, maxDelay time.Duration, n int, jitter func() float64) time.Duration {
	d := base
	for i := 1; i < n && d < maxDelay; i++ {
		if d > maxDelay/2 {
			d = maxDelay
			break
		}
		d *= 2
	}
	d = min(d, maxDelay)
	half := d / 2
	return half + time.Duration(jitter()*float64(d-half))
}

func randFloat() float64 { return rand.Float64() }
