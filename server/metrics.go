package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/kycgw/kycgw/internal/metrics"
	"github.com/kycgw/kycgw/internal/store"
	"github.com/kycgw/kycgw/providers"
)

// metricsPath is where the metrics are served, on the HTTP port or on their own listener.
const metricsPath = "/metrics"

// newMetrics is the default of Config.Metrics: a registry of the server's own, so servers in
// one process (tests, benchmarks) never share series.
func newMetrics() (*metrics.Metrics, error) {
	m, err := metrics.New(metrics.NewRegistry())
	if err != nil {
		return nil, fmt.Errorf("server: metrics: %w", err)
	}
	return m, nil
}

// initMetrics points the scrape-time gauges at this server and makes its providers' series
// exist at zero.
func (s *Server) initMetrics() {
	m := s.cfg.Metrics
	m.AddProviders(s.cfg.Providers.Names()...)
	m.SetStreamSubscribers(s.hub.Subscribers)
	m.SetBreakerStates(s.cfg.ProviderStates)
}

// metricsOnHTTPPort reports whether /metrics is served on the HTTP port: it is unless it has
// its own listener.
func (s *Server) metricsOnHTTPPort() bool { return s.metricsLis == nil }

// listenMetrics binds the metrics listener when one is configured.
func (s *Server) listenMetrics() error {
	if s.cfg.MetricsListener == nil && s.cfg.MetricsAddr == "" {
		return nil
	}
	l, err := listen(s.cfg.MetricsListener, s.cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("metrics listener: %w", err)
	}
	s.metricsLis = l
	return nil
}

// MetricsAddr is the bound address of the metrics listener, nil when the metrics are served
// on the HTTP port.
func (s *Server) MetricsAddr() net.Addr {
	if s.metricsLis == nil {
		return nil
	}
	return s.metricsLis.Addr()
}

// serveMetrics serves the metrics listener, if any, until stopMetrics. A failure is reported
// on errc without blocking: Serve reads only the first.
func (s *Server) serveMetrics(errc chan<- error) {
	if s.metricsLis == nil {
		return
	}
	s.cfg.Logger.Info("serving metrics", "addr", s.metricsLis.Addr().String(), "path", metricsPath)
	var err error
	if s.cfg.HTTPTLS != nil {
		s.metricsServer.TLSConfig = s.cfg.HTTPTLS
		err = s.metricsServer.ServeTLS(s.metricsLis, "", "")
	} else {
		err = s.metricsServer.Serve(s.metricsLis)
	}
	if !errors.Is(err, http.ErrServerClosed) {
		select {
		case errc <- fmt.Errorf("metrics listener: %w", err):
		default:
		}
	}
}

// newMetricsServer builds the metrics listener's HTTP server; Serve calls it before starting
// anything, so stopMetrics never races a half-built server.
func (s *Server) newMetricsServer() {
	if s.metricsLis == nil {
		return
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+metricsPath, s.cfg.Metrics.Handler())
	s.metricsServer = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelWarn),
	}
}

// stopMetrics stops the metrics listener last, so a final scrape can watch the drain.
func (s *Server) stopMetrics(ctx context.Context) {
	if s.metricsServer == nil {
		return
	}
	if err := s.metricsServer.Shutdown(ctx); err != nil {
		s.metricsServer.Close()
	}
}

// providerStart calls p.Start and records the call.
func (s *service) providerStart(ctx context.Context, p providers.Provider, in providers.StartInput) (providers.Result, error) {
	t0 := time.Now()
	res, err := p.Start(ctx, in)
	s.cfg.Metrics.ProviderCall(p.Name(), metrics.OpStart, time.Since(t0), err)
	return res, err
}

// providerStatus calls p.Status for op (a poll, or a read after an out-of-order webhook) and
// records the call.
func (s *service) providerStatus(ctx context.Context, p providers.Provider, op metrics.Operation, in providers.StatusInput) (providers.Result, error) {
	t0 := time.Now()
	res, err := p.Status(ctx, in)
	s.cfg.Metrics.ProviderCall(p.Name(), op, time.Since(t0), err)
	return res, err
}

// meteredStore counts the events the service's transitions append. Every change the service
// makes goes through Apply, whatever its source (start, webhook, poll), so this is the one
// place that sees them all.
type meteredStore struct {
	store.Store
	m *metrics.Metrics
}

func (ms meteredStore) Apply(ctx context.Context, u store.Update) (store.Applied, error) {
	a, err := ms.Store.Apply(ctx, u)
	if err == nil {
		ms.m.EventAppended(a.Event)
	}
	return a, err
}
