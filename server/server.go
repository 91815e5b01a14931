// Package server implements kyc.v1.KycService and serves it over gRPC and over the REST/JSON
// gateway, together with provider webhooks, health and readiness endpoints and the OpenAPI
// document. It validates requests, enforces idempotency, routes to providers and turns every
// error into a gRPC status with a google.rpc.ErrorInfo reason.
//
// It is the only package that maps errors to gRPC codes. It must not import provider adapters:
// it sees them through the providers interfaces.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	kycgw "github.com/kycgw/kycgw"
	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"github.com/kycgw/kycgw/internal/events"
	"github.com/kycgw/kycgw/internal/metrics"
	"github.com/kycgw/kycgw/internal/seal"
	"github.com/kycgw/kycgw/internal/store"
	"github.com/kycgw/kycgw/internal/telemetry"
	"github.com/kycgw/kycgw/providers"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/test/bufconn"
)

// Config configures a Server. Zero durations and sizes take the documented defaults.
type Config struct {
	// GRPCAddr and HTTPAddr are where to listen, unless the listeners are given.
	GRPCAddr, HTTPAddr         string
	GRPCListener, HTTPListener net.Listener

	Store     store.Store
	Providers *providers.Registry
	Logger    *slog.Logger
	// Tracing, when set, traces every call (gRPC and HTTP server spans); nil is off.
	Tracing *telemetry.Tracing
	// Tenants are the clients and their API keys; at least one is required.
	Tenants []Tenant
	// GRPCTLS and HTTPTLS, when set, serve the two ports over TLS. GRPCTLS may require client
	// certificates (mTLS); the HTTP port also receives provider webhooks, which carry none.
	GRPCTLS, HTTPTLS *tls.Config

	// IdempotencyRetention is how long finished Start outcomes are replayed (default 24 h).
	IdempotencyRetention time.Duration
	// IdempotencyLease bounds how long an in-flight Start holds its key if its replica dies
	// (default 30 s; must exceed ProviderTimeout).
	IdempotencyLease time.Duration
	// ProviderTimeout bounds one provider call (default 15 s).
	ProviderTimeout time.Duration
	// WebhookDedupeTTL is how long webhook deliveries are remembered (default 76 h: providers
	// retry for up to three days).
	WebhookDedupeTTL time.Duration
	// SecretKey (32 bytes) keys request fingerprints and encrypts what the store keeps of
	// credentials (idempotency outcomes, polling sessions). Default: random per process;
	// replicas sharing a store must share it.
	SecretKey []byte
	// PollEvery is how often the poller looks for due poll jobs (default 250 ms); PollBatch
	// bounds how many it takes at once (default 32).
	PollEvery time.Duration
	PollBatch int
	// StreamQueueSize bounds each stream's queue (default DefaultStreamQueueSize events).
	StreamQueueSize int
	// MaxBodyBytes bounds REST and webhook bodies and gRPC messages (default 1 MiB).
	MaxBodyBytes int64
	// UnverifiedWebhookLimit is how many webhook requests failing verification one source may
	// send per minute before it is refused with 429 until the minute ends (default 20).
	UnverifiedWebhookLimit int
	// ProviderStates reports each provider instance's circuit breaker for /readyz. Detail only:
	// an open breaker does not make the gateway unready (other providers, GetStatus, streams and
	// webhooks still work).
	ProviderStates func() map[string]string
	// Metrics receives the gateway's metrics (default: a registry of the server's own, with
	// the Go and process collectors). Use one per Server.
	Metrics *metrics.Metrics
	// MetricsAddr or MetricsListener, when set, serve GET /metrics there instead of on the
	// HTTP port.
	MetricsAddr     string
	MetricsListener net.Listener
	// ShutdownTimeout bounds the graceful drain (default 10 s).
	ShutdownTimeout time.Duration
	// Mounts adds handlers to the HTTP port by path prefix (the sandbox emulators).
	Mounts map[string]http.Handler
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (c *Config) setDefaults() error {
	if c.Store == nil || c.Providers == nil {
		return errors.New("server: Store and Providers are required")
	}
	if len(c.Tenants) == 0 {
		return errors.New("server: at least one tenant with an API key is required")
	}
	for _, t := range c.Tenants {
		if t.Name == "" || len(t.KeyHashes) == 0 {
			return fmt.Errorf("server: tenant %q needs a name and at least one API key", t.Name)
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.IdempotencyRetention, 24*time.Hour)
	def(&c.ProviderTimeout, 15*time.Second)
	def(&c.IdempotencyLease, 2*c.ProviderTimeout)
	def(&c.WebhookDedupeTTL, 76*time.Hour)
	def(&c.ShutdownTimeout, 10*time.Second)
	if c.IdempotencyLease <= c.ProviderTimeout {
		return fmt.Errorf("server: idempotency lease %v must exceed the provider timeout %v", c.IdempotencyLease, c.ProviderTimeout)
	}
	if len(c.SecretKey) == 0 {
		c.SecretKey = seal.RandomKey()
	}
	if len(c.SecretKey) != seal.KeySize {
		return fmt.Errorf("server: SecretKey must be %d bytes", seal.KeySize)
	}
	def(&c.PollEvery, 250*time.Millisecond)
	if c.PollBatch <= 0 {
		c.PollBatch = 32
	}
	if c.UnverifiedWebhookLimit <= 0 {
		c.UnverifiedWebhookLimit = 20
	}
	if c.StreamQueueSize <= 0 {
		c.StreamQueueSize = DefaultStreamQueueSize
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Metrics == nil {
		m, err := newMetrics()
		if err != nil {
			return err
		}
		c.Metrics = m
	}
	return nil
}

// Server serves the gateway on two listeners.
type Server struct {
	cfg        Config
	svc        *service
	hub        *events.Hub
	grpcLis    net.Listener
	httpLis    net.Listener
	inproc     *bufconn.Listener
	grpcServer *grpc.Server // the gRPC port
	// inprocServer serves the REST gateway's in-memory connection: the same service and
	// interceptors, without the port's transport security.
	inprocServer *grpc.Server
	httpServer   *http.Server
	// unary and stream are the interceptors every KycService call passes, in order.
	unary    []grpc.UnaryServerInterceptor
	stream   []grpc.StreamServerInterceptor
	health   *health.Server
	poller   *poller
	shutdown chan struct{}
	// metricsLis and metricsServer serve /metrics on their own listener; nil when the HTTP
	// port serves it.
	metricsLis    net.Listener
	metricsServer *http.Server
}

// New builds a Server and binds its listeners; Serve runs it.
func New(cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, shutdown: make(chan struct{})}
	s.hub = events.NewHub(cfg.Store, events.Options{QueueSize: cfg.StreamQueueSize, Logger: cfg.Logger})
	sealer, err := seal.New(deriveKey(cfg.SecretKey, "kycgw/seal"))
	if err != nil {
		return nil, err
	}
	s.svc = &service{
		cfg: cfg, store: meteredStore{cfg.Store, cfg.Metrics}, providers: cfg.Providers, hub: s.hub,
		log:          cfg.Logger,
		fingerprints: newFingerprinter(deriveKey(cfg.SecretKey, "kycgw/fingerprint")),
		sealer:       sealer,
		streams:      &streamLimiter{open: map[string]int{}},
		forgeries:    &forgeryLimiter{limit: cfg.UnverifiedWebhookLimit, now: cfg.Now},
	}
	auth := &authenticator{}
	for i := range cfg.Tenants {
		auth.tenants = append(auth.tenants, &cfg.Tenants[i])
	}
	s.poller = newPoller(s.svc)
	s.initMetrics()

	if s.grpcLis, err = listen(cfg.GRPCListener, cfg.GRPCAddr); err != nil {
		return nil, fmt.Errorf("grpc listener: %w", err)
	}
	if s.httpLis, err = listen(cfg.HTTPListener, cfg.HTTPAddr); err != nil {
		s.grpcLis.Close()
		return nil, fmt.Errorf("http listener: %w", err)
	}
	if err := s.listenMetrics(); err != nil {
		s.grpcLis.Close()
		s.httpLis.Close()
		return nil, err
	}

	// One list of interceptors serves the gRPC port, the in-process gRPC server behind REST
	// streams and the REST gateway's direct unary path, so every call sees the same checks.
	// The request log and metrics go first, so calls refused by the checks after them are
	// logged and counted too.
	reqLog := s.requestLog()
	s.unary = []grpc.UnaryServerInterceptor{reqLog.Unary, cfg.Metrics.GRPC.UnaryServerInterceptor(), auth.unary}
	s.stream = []grpc.StreamServerInterceptor{reqLog.Stream, cfg.Metrics.GRPC.StreamServerInterceptor(), auth.stream}
	opts := []grpc.ServerOption{grpc.MaxRecvMsgSize(int(cfg.MaxBodyBytes)), codecOption(),
		grpc.ChainUnaryInterceptor(s.unary...), grpc.ChainStreamInterceptor(s.stream...)}
	opts = append(opts, cfg.Tracing.GRPCServerOptions()...)
	s.inprocServer = grpc.NewServer(opts...)
	kycv1.RegisterKycServiceServer(s.inprocServer, s.svc)
	if cfg.GRPCTLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg.GRPCTLS)))
	}
	// By default grpc-go runs every call on a new goroutine, whose stack then grows (by
	// copying) to the depth of the interceptors, the handler and the store: about 15% of the
	// CPU of a Start, measured. Workers keep their grown stacks from call to call. A worker
	// is held for the life of a stream, so with many streams open calls fall back to new
	// goroutines, which is grpc-go's default behaviour.
	opts = append(opts, grpc.NumStreamWorkers(grpcWorkers))
	s.grpcServer = grpc.NewServer(opts...)
	kycv1.RegisterKycServiceServer(s.grpcServer, s.svc)
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(s.grpcServer, s.health)
	reflection.Register(s.grpcServer)
	cfg.Metrics.GRPC.InitializeMetrics(s.grpcServer)
	return s, nil
}

func listen(l net.Listener, addr string) (net.Listener, error) {
	if l != nil {
		return l, nil
	}
	return net.Listen("tcp", addr)
}

// GRPCAddr is the bound gRPC address.
func (s *Server) GRPCAddr() net.Addr { return s.grpcLis.Addr() }

// HTTPAddr is the bound HTTP address.
func (s *Server) HTTPAddr() net.Addr { return s.httpLis.Addr() }

// Hub is the server's event hub.
func (s *Server) Hub() *events.Hub { return s.hub }

// Serve runs until ctx is done, then shuts down gracefully: it stops accepting, ends open
// streams (clients resume from their last event id elsewhere), drains in-flight calls and
// returns nil. It returns an error only if a listener fails.
func (s *Server) Serve(ctx context.Context) error {
	// REST unary calls go straight to the service through the same interceptors (no second
	// gRPC hop: it cost about as much as the call itself). grpc-gateway serves server streaming
	// only through a gRPC client connection, so the event stream takes one, over an in-memory
	// listener rather than a loopback dial.
	unaryGW := newGatewayMux()
	if err := kycv1.RegisterKycServiceHandlerServer(ctx, unaryGW, newRESTUnary(s.svc, s.unary)); err != nil {
		return fmt.Errorf("registering gateway: %w", err)
	}
	s.inproc = bufconn.Listen(1 << 20)
	conn, err := grpc.NewClient("passthrough:///kycgw-inproc", append(s.inprocDialOptions(),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return s.inproc.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(int(s.cfg.MaxBodyBytes))),
	)...)
	if err != nil {
		return fmt.Errorf("in-process client: %w", err)
	}
	defer conn.Close()
	streamGW := newGatewayMux()
	if err := kycv1.RegisterKycServiceHandlerClient(ctx, streamGW, kycv1.NewKycServiceClient(conn)); err != nil {
		return fmt.Errorf("registering gateway: %w", err)
	}
	s.httpServer = &http.Server{
		Handler:           s.instrument(s.routes(unaryGW, streamGW)),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelWarn),
	}

	hubCtx, stopHub := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	s.newMetricsServer()
	wg.Go(func() { s.serveMetrics(errc) })
	wg.Go(func() { _ = s.hub.Run(hubCtx) })
	wg.Go(func() { s.poller.run(hubCtx) })
	wg.Go(func() { errc <- s.grpcServer.Serve(s.grpcLis) })
	wg.Go(func() { errc <- s.inprocServer.Serve(s.inproc) })
	wg.Go(func() {
		var err error
		if s.cfg.HTTPTLS != nil {
			s.httpServer.TLSConfig = s.cfg.HTTPTLS
			err = s.httpServer.ServeTLS(s.httpLis, "", "")
		} else {
			err = s.httpServer.Serve(s.httpLis)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	})
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(kycv1.KycService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	s.cfg.Logger.Info("serving", "grpc", s.GRPCAddr().String(), "http", s.HTTPAddr().String())

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	s.stop()
	stopHub()
	wg.Wait()
	return serveErr
}

// stop drains in an order that loses nothing: refuse new work, end streams, let in-flight
// unary calls and webhooks finish, then close.
func (s *Server) stop() {
	s.cfg.Logger.Info("shutting down")
	s.health.Shutdown()
	close(s.shutdown)
	s.hub.Stop() // ends open streams with SHUTTING_DOWN and the id to resume from
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := s.httpServer.Shutdown(ctx); err != nil {
		s.httpServer.Close()
	}
	for _, g := range []*grpc.Server{s.grpcServer, s.inprocServer} {
		done := make(chan struct{})
		go func() { g.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			g.Stop()
			<-done
		}
	}
	s.stopMetrics(ctx)
}

func newGatewayMux() *runtime.ServeMux {
	return runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, jsonMarshaler),
		runtime.WithIncomingHeaderMatcher(headerMatcher),
		runtime.WithOutgoingHeaderMatcher(outgoingHeaderMatcher),
		runtime.WithErrorHandler(restErrorHandler),
	)
}

// headerMatcher forwards the headers the service reads as gRPC metadata.
func headerMatcher(key string) (string, bool) {
	// EqualFold rather than a lowered copy: this runs for every header of every request.
	switch {
	case strings.EqualFold(key, "idempotency-key"):
		return "idempotency-key", true
	case strings.EqualFold(key, "x-request-id"):
		return "x-request-id", true
	}
	return runtime.DefaultHeaderMatcher(key)
}

// DefaultStreamQueueSize is Config.StreamQueueSize's default: at 1,000 matching events a
// second, a second's worth of events that a stream may fall behind before it is ended.
const DefaultStreamQueueSize = 1024

// grpcWorkers is how many goroutines the gRPC server keeps to run calls on: enough for the
// calls one replica has in its handlers at once under load (idle workers cost a parked
// goroutine each, and the GC shrinks their stacks).
const grpcWorkers = 64

// streamPath is StreamEvents' REST route (proto/gateway.yaml).
const streamPath = "/v1/events:stream"

func (s *Server) routes(unaryGW, streamGW http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/v1/", s.limitBody(unaryGW))
	mux.Handle(streamPath, s.limitBody(streamGW))
	mux.HandleFunc("POST /webhooks/{provider}", s.svc.webhookHandler)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	if s.metricsOnHTTPPort() {
		mux.Handle("GET "+metricsPath, s.cfg.Metrics.Handler())
	}
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(kycgw.OpenAPI)
	})
	for prefix, h := range s.cfg.Mounts {
		mux.Handle(prefix, h)
	}
	return mux
}

// limitBody refuses oversized REST bodies up front (413) and caps the rest while they stream.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.cfg.MaxBodyBytes {
			writeTooLarge(w, s.cfg.MaxBodyBytes)
			return
		}
		// grpc-gateway drops a header value with bytes outside printable ASCII (logging only),
		// which would turn an unusable idempotency key into no key at all and let a retry
		// submit twice: refuse it here, as the body field would be.
		for _, k := range r.Header.Values("Idempotency-Key") {
			if why := checkIdempotencyKey(k); why != "" {
				restErrorHandler(r.Context(), runtime.NewServeMux(), jsonMarshaler, w, r, invalidFields(fieldViolation{"idempotency_key", why}))
				return
			}
		}
		r.Body = &cappedBody{ReadCloser: http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes), limit: s.cfg.MaxBodyBytes}
		next.ServeHTTP(w, r)
	})
}

// cappedBody notes when a body without a declared length ran past the limit, so the error
// handler can answer 413 as limitBody does for a declared one: grpc-gateway reports every
// decoding error as the same InvalidArgument.
type cappedBody struct {
	io.ReadCloser
	limit int64
	over  bool
}

func (b *cappedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var tooLarge *http.MaxBytesError
	if err != nil && errors.As(err, &tooLarge) {
		b.over = true
	}
	return n, err
}

// writeTooLarge is the answer to a body over the limit.
func writeTooLarge(w http.ResponseWriter, limit int64) {
	writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{
		"code": 3, "message": fmt.Sprintf("request body larger than %d bytes", limit),
	})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{"store": "ok", "events": "ok"}
	code := http.StatusOK
	if err := s.cfg.Store.Ping(ctx); err != nil {
		checks["store"], code = "unavailable", http.StatusServiceUnavailable
	}
	if !s.hub.Running() {
		checks["events"], code = "not running", http.StatusServiceUnavailable
	}
	select {
	case <-s.shutdown:
		checks["server"], code = "shutting down", http.StatusServiceUnavailable
	default:
	}
	if s.cfg.ProviderStates != nil {
		for name, st := range s.cfg.ProviderStates() {
			checks["provider:"+name] = "breaker " + st
		}
	}
	writeJSON(w, code, map[string]any{"ready": code == http.StatusOK, "checks": checks})
}
