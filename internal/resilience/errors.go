package resilience

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// Sentinels for the errors a Transport makes itself. Both are transport errors to
// http.Client, so adapters that wrap transport errors as unavailable do so with these too.
var (
	// ErrOpen: the circuit breaker refused the request; nothing was sent.
	ErrOpen = errors.New("circuit breaker open")
	// ErrRateLimited: the client-side rate limit could not let the request go before its
	// deadline; nothing was sent.
	ErrRateLimited = errors.New("client-side rate limit")
)

// OpenError is returned by RoundTrip when the breaker refuses an attempt: it is open, or
// half-open with its probes already out. It wraps ErrOpen and is a net.Error.
type OpenError struct {
	Name  string // provider instance
	State string // "open" or "half-open"
}

func (e *OpenError) Error() string {
	return fmt.Sprintf("resilience %s: circuit breaker %s: request not sent", e.Name, e.State)
}

// Unwrap makes errors.Is(err, ErrOpen) true.
func (e *OpenError) Unwrap() error { return ErrOpen }

// Timeout implements net.Error: nothing timed out.
func (e *OpenError) Timeout() bool { return false }

// Temporary implements net.Error: the breaker closes again once the provider recovers.
func (e *OpenError) Temporary() bool { return true }

// RateLimitError is returned by RoundTrip when waiting for the rate limiter would pass the
// request's deadline. It wraps ErrRateLimited and is a net.Error that timed out.
type RateLimitError struct {
	Name string        // provider instance
	Wait time.Duration // the wait the limiter asked for
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("resilience %s: rate limit wait %s would pass the request deadline: request not sent", e.Name, e.Wait)
}

// Unwrap makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitError) Unwrap() error { return ErrRateLimited }

// Timeout implements net.Error: the deadline cannot be met.
func (e *RateLimitError) Timeout() bool { return true }

// Temporary implements net.Error.
func (e *RateLimitError) Temporary() bool { return true }

// TimeoutError is an attempt that ran out of Options.Timeout while the request's own context
// was still live. It wraps the transport's error (usually context.DeadlineExceeded).
type TimeoutError struct {
	Name  string
	After time.Duration // Options.Timeout
	Err   error
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("resilience %s: attempt timed out after %s: %v", e.Name, e.After, e.Err)
}

// Unwrap returns the transport's error.
func (e *TimeoutError) Unwrap() error { return e.Err }

// Timeout implements net.Error.
func (e *TimeoutError) Timeout() bool { return true }

// Temporary implements net.Error.
func (e *TimeoutError) Temporary() bool { return true }

var (
	_ net.Error = (*OpenError)(nil)
	_ net.Error = (*RateLimitError)(nil)
	_ net.Error = (*TimeoutError)(nil)
)
