// Package apptest runs the gateway in tests exactly as `make run` does: the embedded defaults on
// free ports, with short sandbox delays so webhooks and reviews arrive within a test.
package apptest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/kycgw/kycgw/internal/app"
)

// Start builds and runs an App, waits until it serves, and returns it with its stop. Stop is
// idempotent, waits for Run to return and reports its error; it is also registered as a
// cleanup. mutate adjusts the configuration first (addresses, providers, Redis...). Logs are
// discarded unless KYCGW_TEST_LOGS is set.
func Start(t testing.TB, mutate ...func(*app.Config)) (*app.App, func()) {
	t.Helper()
	cfg := app.Config{
		GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		SandboxWebhookDelay: 50 * time.Millisecond,
		SandboxReviewDelay:  100 * time.Millisecond,
		Logger:              slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if os.Getenv("KYCGW_TEST_LOGS") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	for _, m := range mutate {
		m(&cfg)
	}
	a, err := app.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-a.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("gateway stopped before ready: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		<-done
		t.Fatal("gateway not ready")
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("gateway Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return a, stop
}
