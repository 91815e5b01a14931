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

	"github.com/kycgw/kycgw/internal/config"
	"github.com/kycgw/kycgw/internal/store"
	"github.com/kycgw/kycgw/providers"
	"github.com/kycgw/kycgw/server"
)

// Config is the gateway's configuration.
type Config struct {
	GRPCAddr string
	HTTPAddr string
	Logger   *slog.Logger

	// Providers are the provider instances; the zero value is config.Default(), the embedded
	// sandbox.
	Providers config.Config
	// SecretKey keys fingerprints and encrypts stored credentials (32 bytes; default random
	// per process).
	SecretKey []byte
	// IdempotencyRetention is how long Start outcomes are replayed (default 24 h).
	IdempotencyRetention time.Duration
	// SandboxWebhookDelay is how long sandbox emulators wait before their first webhook
	// (default 300 ms); SandboxReviewDelay how long their reviews take (default 2 s).
	SandboxWebhookDelay time.Duration
	SandboxReviewDelay  time.Duration
}

// App is an assembled gateway.
type App struct {
	cfg     Config
	self    string // the gateway's own HTTP base URL, for sandbox instances
	srv     *server.Server
	mounts  map[string]http.Handler
	closers []func()
	hooks   []hook
	ready   chan struct{}
}

// hook is a webhook subscription to create once the HTTP port serves.
type hook struct {
	sub providers.WebhookSubscriber
	url string
}

// factory builds one provider instance of a type. Instances with sandbox set also mount their
// emulator and may register a webhook subscription.
type factory func(a *App, pc config.Provider) (providers.Provider, error)

// factories is the explicit registry of provider types: nothing registers itself.
var factories = map[string]factory{
	config.TypeBond:          newBond,
	config.TypeCloudPayments: newCloudPayments,
}

// New binds the listeners and builds every part.
func New(cfg Config) (*App, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if len(cfg.Providers.Providers) == 0 {
		cfg.Providers = config.Default()
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
	a := &App{
		cfg: cfg, ready: make(chan struct{}), mounts: map[string]http.Handler{},
		self: "http://" + loopback(httpLis.Addr()),
	}
	fail := func(err error) (*App, error) {
		a.close()
		grpcLis.Close()
		httpLis.Close()
		return nil, err
	}

	var ps []providers.Provider
	for _, pc := range cfg.Providers.Providers {
		f, ok := factories[pc.Type]
		if !ok {
			return fail(fmt.Errorf("provider %s: unknown type %q", pc.Name, pc.Type))
		}
		p, err := f(a, pc)
		if err != nil {
			return fail(fmt.Errorf("provider %s: %w", pc.Name, err))
		}
		ps = append(ps, p)
	}
	reg, err := providers.NewRegistry(ps...)
	if err != nil {
		return fail(err)
	}
	a.srv, err = server.New(server.Config{
		GRPCListener:         grpcLis,
		HTTPListener:         httpLis,
		Store:                store.NewMemory(store.MemoryOptions{}),
		Providers:            reg,
		Logger:               cfg.Logger,
		SecretKey:            cfg.SecretKey,
		IdempotencyRetention: cfg.IdempotencyRetention,
		Mounts:               a.mounts,
	})
	if err != nil {
		return fail(err)
	}
	return a, nil
}

// mountSandbox serves an emulator at /sandbox/<name>/ and returns its base URL.
func (a *App) mountSandbox(name string, h http.Handler, close func()) string {
	prefix := "/sandbox/" + name
	a.mounts[prefix+"/"] = http.StripPrefix(prefix, h)
	if close != nil {
		a.closers = append(a.closers, close)
	}
	return a.self + prefix
}

// GRPCAddr is the bound gRPC address.
func (a *App) GRPCAddr() string { return a.srv.GRPCAddr().String() }

// HTTPAddr is the bound HTTP address.
func (a *App) HTTPAddr() string { return a.srv.HTTPAddr().String() }

// Ready is closed once the gateway serves and its webhook subscriptions exist.
func (a *App) Ready() <-chan struct{} { return a.ready }

// Run serves until ctx is done, then shuts down and returns nil (or the first serving error).
func (a *App) Run(ctx context.Context) error {
	defer a.close()
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
		a.cfg.Logger.Info("ready", "grpc", a.GRPCAddr(), "http", "http://"+a.HTTPAddr(), "providers", a.providerNames())
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

func (a *App) providerNames() []string {
	var out []string
	for _, p := range a.cfg.Providers.Providers {
		out = append(out, p.Name)
	}
	return out
}

// subscribe creates the sandbox webhook subscriptions, retrying while the HTTP port comes up.
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

func (a *App) close() {
	for _, c := range a.closers {
		c()
	}
	a.closers = nil
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
