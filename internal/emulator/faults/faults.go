// Package faults injects failures into the sandbox emulators' HTTP APIs, for tests of how the
// gateway copes with a misbehaving provider: added latency, a share of 5xx or 429 answers, and
// refused connections. Everything is off by default and can be changed while serving, from
// code or through the emulator's control endpoint.
package faults

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// maxBufferedBody bounds the body read ahead of an injected latency.
const maxBufferedBody = 1 << 20

// Config is one set of faults. The zero value injects nothing.
type Config struct {
	// Latency is added before every answer.
	Latency time.Duration `json:"latency,omitempty"`
	// ErrorRate is the share of requests (0..1) answered 503 with the provider's error
	// envelope.
	ErrorRate float64 `json:"error_rate,omitempty"`
	// RateLimitRate is the share of requests (0..1) answered 429 with Retry-After: 1.
	RateLimitRate float64 `json:"rate_limit_rate,omitempty"`
	// Refuse closes every connection without an answer, as a provider that is down.
	Refuse bool `json:"refuse,omitempty"`
}

// Validate checks the rates.
func (c Config) Validate() error {
	if c.ErrorRate < 0 || c.ErrorRate > 1 || c.RateLimitRate < 0 || c.RateLimitRate > 1 || c.ErrorRate+c.RateLimitRate > 1 {
		return fmt.Errorf("faults: error_rate and rate_limit_rate must be within 0..1 and sum to at most 1")
	}
	if c.Latency < 0 {
		return fmt.Errorf("faults: latency must not be negative")
	}
	return nil
}

// Injector applies a Config to the requests it wraps. It is safe for concurrent use.
type Injector struct {
	mu  sync.RWMutex
	cfg Config
	// ErrorBody writes the provider-shaped body of an injected error.
	errorBody func(w http.ResponseWriter, status int)
}

// New returns an Injector that injects nothing yet. errorBody writes an injected error in the
// provider's own envelope (nil: a plain JSON object).
func New(errorBody func(w http.ResponseWriter, status int)) *Injector {
	if errorBody == nil {
		errorBody = func(w http.ResponseWriter, status int) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":%q}`, http.StatusText(status))
		}
	}
	return &Injector{errorBody: errorBody}
}

// Set replaces the faults.
func (in *Injector) Set(c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	in.mu.Lock()
	in.cfg = c
	in.mu.Unlock()
	return nil
}

// Get returns the current faults.
func (in *Injector) Get() Config {
	in.mu.RLock()
	defer in.mu.RUnlock()
	return in.cfg
}

// Wrap returns h with the faults applied in front of it.
func (in *Injector) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := in.Get()
		if c.Refuse {
			refuse(w)
			return
		}
		if c.Latency > 0 {
			// net/http notices a caller that hung up only once the request body has been read,
			// so read it (capped) before waiting; the handler gets it back intact.
			if r.Body != nil && r.Body != http.NoBody {
				b, err := io.ReadAll(io.LimitReader(r.Body, maxBufferedBody))
				if err != nil {
					return
				}
				r.Body = io.NopCloser(bytes.NewReader(b))
			}
			t := time.NewTimer(c.Latency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		switch x := rand.Float64(); {
		case x < c.ErrorRate:
			in.errorBody(w, http.StatusServiceUnavailable)
			return
		case x < c.ErrorRate+c.RateLimitRate:
			w.Header().Set("Retry-After", "1")
			in.errorBody(w, http.StatusTooManyRequests)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// refuse drops the connection without a response. Mounted in-process the emulator cannot
// refuse the TCP connection itself; a connection closed without an answer is what the client
// sees of a provider that is down.
func refuse(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // HTTP/2: abort the stream
}

// ControlHandler serves the faults at one path: GET returns them, PUT or POST replaces them
// with a JSON Config (durations as Go strings, e.g. {"latency":"200ms"}).
func (in *Injector) ControlHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.Method {
		case http.MethodGet:
			_ = json.NewEncoder(w).Encode(toWire(in.Get()))
		case http.MethodPut, http.MethodPost:
			var wc wireConfig
			dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&wc); err != nil {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprintf(w, `{"error":%q}`, err.Error())
				return
			}
			c, err := wc.config()
			if err == nil {
				err = in.Set(c)
			}
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprintf(w, `{"error":%q}`, err.Error())
				return
			}
			_ = json.NewEncoder(w).Encode(toWire(c))
		default:
			w.Header().Set("Allow", "GET, PUT, POST")
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	})
}

type wireConfig struct {
	Latency       string  `json:"latency,omitempty"`
	ErrorRate     float64 `json:"error_rate,omitempty"`
	RateLimitRate float64 `json:"rate_limit_rate,omitempty"`
	Refuse        bool    `json:"refuse,omitempty"`
}

func toWire(c Config) wireConfig {
	w := wireConfig{ErrorRate: c.ErrorRate, RateLimitRate: c.RateLimitRate, Refuse: c.Refuse}
	if c.Latency > 0 {
		w.Latency = c.Latency.String()
	}
	return w
}

func (w wireConfig) config() (Config, error) {
	c := Config{ErrorRate: w.ErrorRate, RateLimitRate: w.RateLimitRate, Refuse: w.Refuse}
	if w.Latency != "" {
		d, err := time.ParseDuration(w.Latency)
		if err != nil {
			return c, fmt.Errorf("latency: %w", err)
		}
		c.Latency = d
	}
	return c, nil
}

// Rooted returns r with a leading "/" on its path. An emulator mounted with
// http.StripPrefix("/sandbox/<name>/", ...) sees "api/..." or "kyc-ms/..."; a ServeMux would
// answer that with a redirect to the cleaned path, which lies outside the mount.
func Rooted(r *http.Request) *http.Request {
	if strings.HasPrefix(r.URL.Path, "/") {
		return r
	}
	r2 := new(http.Request)
	*r2 = *r
	u := *r.URL
	u.Path = "/" + u.Path
	if u.RawPath != "" {
		u.RawPath = "/" + u.RawPath
	}
	r2.URL = &u
	return r2
}
