// Package app assembles a complete gateway from configuration: store, provider instances,
// sandbox emulators and the server. cmd/kycgw and the end-to-end tests both start it, so the
// tests run exactly what users run.
package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/kycgw/kycgw/internal/emulator/bondemu"
	"github.com/kycgw/kycgw/internal/store"
	"github.com/kycgw/kycgw/providers"
	"github.com/kycgw/kycgw/providers/bond"
	"github.com/kycgw/kycgw/server"
)

// Config is the gateway's configuration.
type Config struct {
	GRPCAddr string
	HTTPAddr string
	Logger   *slog.Logger

	// IdempotencyRetention is how long Start outcomes are replayed (default 24 h).
	IdempotencyRetention time.Duration
	// SandboxWebhookDelay is how long the sandbox waits before its first webhook (default
	// 300 ms).
	SandboxWebhookDelay time.Duration
}

// App is an assembled gateway.
type App struct {
	cfg   Config
	srv   *server.Server
	emus  []*bondemu.Emulator
	hooks []hook
	ready chan struct{}
}

// hook is a webhook subscription to create once the HTTP port serves.
type hook struct {
	sub providers.WebhookSubscriber
	url string
}

// New binds the listeners and builds every part. With no provider configuration it runs the
// embedded sandbox: the Bond emulator mounted at /sandbox/bond/ on the HTTP port, a provider
// named "bond" configured against it, and the gateway's own webhook endpoint subscribed.
func New(cfg Config) (*App, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	grpcLis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return nil, fmt.Errorf("listen grpc %s: %w", cfg.GRPCAddr, err)
	}
	httpLis, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		grpcLis.Close()
		return nil, fmt.Errorf("listen http %s: %w", cfg.HTTPAddr, err)
	}
	a := &App{cfg: cfg, ready: make(chan struct{})}
	self := "http://" + loopback(httpLis.Addr())

	identity, secret := randomHex(16), randomHex(32)
	emu := bondemu.New(bondemu.Options{
		Identity: identity, Authorization: secret,
		WebhookDelay: cfg.SandboxWebhookDelay,
		Logger:       cfg.Logger.With("component", "sandbox", "provider", "bond"),
	})
	a.emus = append(a.emus, emu)
	bondClient, err := bond.New(bond.Config{
		Name:          "bond",
		BaseURL:       self + "/sandbox/bond/api/v0.1",
		Identity:      identity,
		Authorization: secret,
		HTTPClient:    &http.Client{Timeout: 15 * time.Second},
	})
	if err != nil {
		a.closeEmulators()
		return nil, fmt.Errorf("provider bond: %w", err)
	}
	a.hooks = append(a.hooks, hook{sub: bondClient, url: self + "/webhooks/bond"})
	reg, err := providers.NewRegistry(bondClient)
	if err != nil {
		a.closeEmulators()
		return nil, err
	}

	a.srv, err = server.New(server.Config{
		GRPCListener:         grpcLis,
		HTTPListener:         httpLis,
		Store:                store.NewMemory(store.MemoryOptions{}),
		Providers:            reg,
		Logger:               cfg.Logger,
		IdempotencyRetention: cfg.IdempotencyRetention,
		Mounts: map[string]http.Handler{
			"/sandbox/bond/": http.StripPrefix("/sandbox/bond", emu),
		},
	})
	if err != nil {
		a.closeEmulators()
		grpcLis.Close()
		httpLis.Close()
		return nil, err
	}
	return a, nil
}

// GRPCAddr is the bound gRPC address.
func (a *App) GRPCAddr() string { return a.srv.GRPCAddr().String() }

// HTTPAddr is the bound HTTP address.
func (a *App) HTTPAddr() string { return a.srv.HTTPAddr().String() }

// Ready is closed once the gateway serves and its webhook subscriptions exist.
func (a *App) Ready() <-chan struct{} { return a.ready }

// Run serves until ctx is done, then shuts down and returns nil (or the first serving error).
func (a *App) Run(ctx context.Context) error {
	defer a.closeEmulators()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var serveErr, subErr error
	wg.Go(func() {
		serveErr = a.srv.Serve(ctx)
		cancel()
	})
	wg.Go(func() {
		if subErr = a.subscribe(ctx); subErr != nil {
			cancel()
			return
		}
		close(a.ready)
		a.cfg.Logger.Info("ready", "grpc", a.GRPCAddr(), "http", "http://"+a.HTTPAddr())
	})
	wg.Wait()
	if serveErr != nil {
		return serveErr
	}
	if subErr != nil && !errors.Is(subErr, context.Canceled) {
		return subErr
	}
	return nil
}

// subscribe creates the webhook subscriptions, retrying while the HTTP port comes up.
func (a *App) subscribe(ctx context.Context) error {
	for _, h := range a.hooks {
		var err error
		for attempt := 0; attempt < 50; attempt++ {
			if err = h.sub.SubscribeWebhook(ctx, h.url); err == nil || ctx.Err() != nil {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
		if err != nil {
			return fmt.Errorf("subscribing webhook %s: %w", h.url, err)
		}
	}
	return nil
}

func (a *App) closeEmulators() {
	for _, e := range a.emus {
		e.Close()
	}
	a.emus = nil
}

// loopback returns addr with an unspecified host replaced by 127.0.0.1, for the gateway's calls
// to itself.
func loopback(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return addr.String()
	}
	return net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
