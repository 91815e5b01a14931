// Package app assembles a complete gateway from configuration: store, provider instances,
// sandbox emulators and the server. cmd/kycgw and the end-to-end tests both start it, so the
// tests run exactly what users run.
package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/kycgw/kycgw/internal/config"
	"github.com/kycgw/kycgw/internal/metrics"
	"github.com/kycgw/kycgw/internal/resilience"
	"github.com/kycgw/kycgw/internal/store"
	"github.com/kycgw/kycgw/internal/telemetry"
	"github.com/kycgw/kycgw/providers"
	"github.com/kycgw/kycgw/server"
	"github.com/redis/go-redis/v9"
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
	// RedisURL selects the Redis store (redis:// or rediss://[user:password@]host:port[/db]);
	// empty keeps the in-memory store. RedisAddrs adds seed addresses (a Cluster), and
	// RedisMasterName names a Sentinel master: go-redis' UniversalClient picks the client.
	RedisURL        string
	RedisAddrs      []string
	RedisMasterName string
	RedisCluster    bool
	// RedisNoAutoPipeline sends each Redis command on its own round trip instead of batching
	// concurrent requests' commands (go-redis automatic pipelining, on by default).
	RedisNoAutoPipeline bool
	// EventMaxLen and EventMaxAge bound the retained event log (defaults 100,000 and 24 h).
	EventMaxLen int
	EventMaxAge time.Duration
	// TLSCertFile and TLSKeyFile (PEM) serve both ports over TLS; TLSClientCAFile additionally
	// requires gRPC clients to present a certificate signed by one of its CAs (mTLS).
	TLSCertFile, TLSKeyFile, TLSClientCAFile string
	// ProviderTimeout bounds one provider call (default 15 s); an in-flight Start's
	// idempotency lease is twice that.
	ProviderTimeout time.Duration

	// SandboxWebhookDelay is how long sandbox emulators wait before their first webhook
	// (default 300 ms); SandboxReviewDelay how long their reviews take (default 2 s).
	SandboxWebhookDelay time.Duration
	SandboxReviewDelay  time.Duration

	// MetricsAddr serves GET /metrics on a listener of its own; empty: on the HTTP port.
	MetricsAddr string

	// Tracing selects where spans go (--trace-exporter); the zero value turns tracing off.
	Tracing telemetry.TracingConfig
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
	// transports are the providers' resilient HTTP transports, for /readyz detail.
	transports []*resilience.Transport
	// metrics is this gateway's, on a registry of its own.
	metrics *metrics.Metrics
	// tracing is nil when tracing is off.
	tracing *telemetry.Tracing
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
	if a.tracing, err = telemetry.NewTracing(context.Background(), cfg.Tracing); err != nil {
		return fail(err)
	}
	// Registered first, so it runs last: spans of everything else's shutdown are flushed too.
	a.closers = append(a.closers, a.shutdownTracing)

	if a.metrics, err = metrics.New(metrics.NewRegistry()); err != nil {
		return fail(err)
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
	st, err := a.newStore()
	if err != nil {
		return fail(err)
	}
	st = a.tracing.Store(st)
	var tenants []server.Tenant
	for _, t := range cfg.Providers.Tenants {
		tenants = append(tenants, server.Tenant{Name: t.Name, KeyHashes: t.KeyHashes,
			Providers: t.Providers, Programs: t.Programs, MaxStreams: t.MaxStreams})
	}
	if len(tenants) == 0 {
		return fail(errors.New("no tenants configured"))
	}
	grpcTLS, httpTLS, err := a.tlsConfigs()
	if err != nil {
		return fail(err)
	}
	a.srv, err = server.New(server.Config{
		GRPCTLS:              grpcTLS,
		HTTPTLS:              httpTLS,
		GRPCListener:         grpcLis,
		HTTPListener:         httpLis,
		Store:                st,
		Tenants:              tenants,
		ProviderStates:       a.providerStates,
		Metrics:              a.metrics,
		MetricsAddr:          cfg.MetricsAddr,
		ProviderTimeout:      cfg.ProviderTimeout,
		Providers:            reg,
		Logger:               cfg.Logger,
		Tracing:              a.tracing,
		SecretKey:            a.cfg.SecretKey,
		IdempotencyRetention: cfg.IdempotencyRetention,
		Mounts:               a.mounts,
	})
	if err != nil {
		return fail(err)
	}
	return a, nil
}

// newStore is the Redis store when a URL is configured, else the memory store.
func (a *App) newStore() (store.Store, error) {
	cfg := a.cfg
	if cfg.RedisURL == "" {
		if len(cfg.RedisAddrs) > 0 || cfg.RedisMasterName != "" || cfg.RedisCluster {
			return nil, errors.New("redis-addrs, redis-master-name and redis-cluster need redis-url")
		}
		return store.NewMemory(store.MemoryOptions{MaxEvents: cfg.EventMaxLen, MaxEventAge: cfg.EventMaxAge}), nil
	}
	if len(a.cfg.SecretKey) == 0 {
		// Each replica would make up its own: fingerprints would not match across replicas and
		// one could not open what another sealed. Only an all-sandbox deployment, which holds
		// no real credentials, may fall back to the well-known development key.
		if !allSandbox(cfg.Providers) {
			return nil, errors.New("secret-key is required with redis-url: every replica sharing the store must use the same key")
		}
		a.cfg.SecretKey = DevSecretKey
		cfg.Logger.Warn("using the well-known development secret key because every provider is a sandbox; set --secret-key (KYCGW_SECRET_KEY) for real providers")
	}
	opt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("redis-url: %w", err)
	}
	client := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:         append([]string{opt.Addr}, cfg.RedisAddrs...),
		DB:            opt.DB,
		Username:      opt.Username,
		Password:      opt.Password,
		TLSConfig:     opt.TLSConfig,
		MasterName:    cfg.RedisMasterName,
		IsClusterMode: cfg.RedisCluster,
		DialTimeout:   2 * time.Second,
		ReadTimeout:   2 * time.Second,
		WriteTimeout:  2 * time.Second,
	})
	client.AddHook(a.metrics.RedisHook())
	st, err := store.NewRedis(store.RedisOptions{Client: client, MaxEvents: cfg.EventMaxLen, MaxEventAge: cfg.EventMaxAge,
		NoAutoPipeline: cfg.RedisNoAutoPipeline})
	if err != nil {
		client.Close()
		return nil, err
	}
	a.closers = append(a.closers, func() { client.Close() })
	return st, nil
}

// tlsConfigs loads the certificates for the two ports.
func (a *App) tlsConfigs() (grpcTLS, httpTLS *tls.Config, err error) {
	c := a.cfg
	if c.TLSCertFile == "" && c.TLSKeyFile == "" {
		if c.TLSClientCAFile != "" {
			return nil, nil, errors.New("tls-client-ca-file needs tls-cert-file and tls-key-file")
		}
		return nil, nil, nil
	}
	if c.TLSCertFile == "" || c.TLSKeyFile == "" {
		return nil, nil, errors.New("tls-cert-file and tls-key-file go together")
	}
	for _, p := range c.Providers.Providers {
		if p.Sandbox {
			return nil, nil, fmt.Errorf("provider %s: sandbox instances call the gateway's own HTTP port in plain HTTP; with TLS, run cmd/kyc-sandbox and configure the providers against it", p.Name)
		}
	}
	cert, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("tls-cert-file/tls-key-file: %w", err)
	}
	httpTLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	grpcTLS = httpTLS.Clone()
	if c.TLSClientCAFile != "" {
		pem, err := os.ReadFile(c.TLSClientCAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("tls-client-ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, errors.New("tls-client-ca-file: no PEM certificates in it")
		}
		grpcTLS.ClientCAs, grpcTLS.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return grpcTLS, httpTLS, nil
}

// DevSecretKey is the key an all-sandbox deployment on Redis uses when none is set, so that
// `KYCGW_REDIS_URL=... make run` works on several replicas. It protects nothing: never use it
// with real providers (the gateway refuses to).
var DevSecretKey = []byte("kycgw-sandbox-development-key-32")

func allSandbox(c config.Config) bool {
	for _, p := range c.Providers {
		if !p.Sandbox {
			return false
		}
	}
	return true
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

// MetricsAddr is the bound address of the metrics listener, "" when the HTTP port serves
// /metrics.
func (a *App) MetricsAddr() string {
	if addr := a.srv.MetricsAddr(); addr != nil {
		return addr.String()
	}
	return ""
}

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
		if a.devTenant() {
			a.cfg.Logger.Info("development API key (sandbox only): send Authorization: Bearer "+config.DevAPIKey, "tenant", "dev")
		}
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

// providerStates is each provider instance's circuit breaker state.
func (a *App) providerStates() map[string]string {
	m := make(map[string]string, len(a.transports))
	for _, tr := range a.transports {
		m[tr.Name()] = tr.State()
	}
	return m
}

// devTenant reports whether the only tenant is the sandbox's development tenant.
func (a *App) devTenant() bool {
	ts := a.cfg.Providers.Tenants
	return len(ts) == 1 && ts[0].Name == "dev" && allSandbox(a.cfg.Providers)
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

// shutdownTracing flushes the spans still buffered, within a bound: a collector that is down
// must not hold up the exit.
func (a *App) shutdownTracing() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.tracing.Shutdown(ctx); err != nil {
		a.cfg.Logger.Warn("flushing traces", "err", err)
	}
}

// close stops what New started, in reverse order (emulators before the store's client).
func (a *App) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
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

// RedisLogger routes go-redis' own log lines (reconnect attempts and the like; go-redis has one
// process-wide logger, so the binary installs it) into slog at debug level: the store already
// reports outages as errors where they matter.
type RedisLogger struct{ Logger *slog.Logger }

// Printf implements go-redis' logging interface.
func (l RedisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.Logger.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}
