// Command kycgw runs the KYC gateway: kyc.v1.KycService over gRPC and REST, provider webhooks,
// health and readiness. With no provider configuration it runs the embedded sandbox.
//
// Every flag can also be set by an environment variable KYCGW_<NAME> (dashes become
// underscores); a flag on the command line wins.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/kycgw/kycgw/internal/app"
	"github.com/kycgw/kycgw/internal/config"
	"github.com/kycgw/kycgw/internal/seal"
	"github.com/kycgw/kycgw/internal/store"
	"github.com/redis/go-redis/v9"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "kycgw:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, logCfg, opts, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	cfg.Logger, err = newLogger(logCfg, stderr)
	if err != nil {
		return err
	}
	cfg.Tracing.Writer = stderr
	if opts.configPath != "" {
		if cfg.Providers, err = config.Load(opts.configPath, getenv); err != nil {
			return err
		}
	}
	if opts.redisAddrs != "" {
		cfg.RedisAddrs = strings.Split(opts.redisAddrs, ",")
	}
	if opts.secretKey != "" {
		if cfg.SecretKey, err = seal.ParseKey(opts.secretKey); err != nil {
			return fmt.Errorf("secret-key: %w", err)
		}
	}
	redis.SetLogger(app.RedisLogger{Logger: cfg.Logger})
	a, err := app.New(cfg)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

type logConfig struct{ format, level string }

// options are the flags that need more than a plain value.
type options struct {
	configPath string
	secretKey  string
	redisAddrs string
}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (app.Config, logConfig, options, error) {
	var cfg app.Config
	var lc logConfig
	var o options
	fs := newFlagSet(&cfg, &lc, &o, stderr)
	if err := fs.Parse(args); err != nil {
		return cfg, lc, o, err
	}
	if fs.NArg() > 0 {
		return cfg, lc, o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if err := applyEnv(fs, getenv); err != nil {
		return cfg, lc, o, err
	}
	return cfg, lc, o, nil
}

// newFlagSet defines every flag of kycgw, bound to cfg, lc and o. It is apart from parseFlags
// so the configuration reference test reads the same flags, names and defaults the binary has.
func newFlagSet(cfg *app.Config, lc *logConfig, o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("kycgw", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.GRPCAddr, "grpc-addr", "127.0.0.1:9090", "gRPC listen address")
	fs.StringVar(&cfg.HTTPAddr, "http-addr", "127.0.0.1:8080", "HTTP listen address: REST gateway, webhooks, health, OpenAPI, sandbox")
	fs.StringVar(&cfg.TLSCertFile, "tls-cert-file", "", "PEM certificate: serve both ports over TLS")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key-file", "", "PEM private key of tls-cert-file")
	fs.StringVar(&cfg.TLSClientCAFile, "tls-client-ca-file", "", "PEM CA bundle: require gRPC clients to present a certificate it signed (mTLS)")
	fs.StringVar(&cfg.RedisURL, "redis-url", "", "Redis store, redis://[user:password@]host:port[/db] (rediss:// for TLS); empty: in-memory store")
	fs.StringVar(&o.redisAddrs, "redis-addrs", "", "more Redis seed addresses, comma-separated (Cluster)")
	fs.StringVar(&cfg.RedisMasterName, "redis-master-name", "", "Redis Sentinel master name (redis-url then names a sentinel)")
	fs.BoolVar(&cfg.RedisCluster, "redis-cluster", false, "treat the Redis addresses as a Cluster")
	fs.BoolVar(&cfg.RedisNoAutoPipeline, "redis-no-auto-pipeline", false, "send each Redis command on its own round trip instead of batching concurrent requests' commands")
	fs.IntVar(&cfg.EventMaxLen, "event-max-len", store.DefaultMaxEvents, "events retained for resuming streams, by count")
	fs.DurationVar(&cfg.EventMaxAge, "event-max-age", 24*time.Hour, "events retained for resuming streams, by age")
	fs.DurationVar(&cfg.ProviderTimeout, "provider-timeout", 15*time.Second, "bound on one provider call; an in-flight Start holds its idempotency key for twice this if its replica dies")
	fs.DurationVar(&cfg.IdempotencyRetention, "idempotency-ttl", 24*time.Hour, "how long Start outcomes are replayed for an idempotency key")
	fs.DurationVar(&cfg.SandboxWebhookDelay, "sandbox-webhook-delay", 300*time.Millisecond, "delay before sandbox emulators send their first webhook")
	fs.StringVar(&o.configPath, "config", "", "provider configuration file (YAML; see kycgw.example.yaml); empty: the embedded sandbox")
	fs.StringVar(&o.secretKey, "secret-key", "", "base64 32-byte key for fingerprints and stored credentials; replicas sharing a store must share it (empty: random per process)")
	fs.DurationVar(&cfg.SandboxReviewDelay, "sandbox-review-delay", 2*time.Second, "how long sandbox reviews take")
	fs.StringVar(&lc.format, "log-format", "text", "log format: text or json")
	fs.StringVar(&lc.level, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", "", "serve GET /metrics (Prometheus) on this address instead of on the HTTP port")
	fs.StringVar(&cfg.Tracing.Exporter, "trace-exporter", "none", "OpenTelemetry trace exporter: none, stdout (to stderr) or otlp (OTEL_EXPORTER_OTLP_* variables)")
	fs.Float64Var(&cfg.Tracing.SampleRatio, "trace-sample-ratio", 1, "fraction of new traces recorded, 0 to 1; traces a caller sampled are always recorded")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: kycgw [flags]\n\nEvery flag may also be set as KYCGW_<FLAG> (e.g. KYCGW_GRPC_ADDR).\n\nFlags:")
		fs.PrintDefaults()
	}
	return fs
}

// applyEnv sets every flag not given on the command line from KYCGW_<NAME>.
func applyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		name := EnvName(f.Name)
		if v := getenv(name); v != "" {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s: %w", name, e)
			}
		}
	})
	return err
}

// EnvName is the environment variable that sets a flag.
func EnvName(flagName string) string {
	return "KYCGW_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func newLogger(lc logConfig, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(lc.level)); err != nil {
		return nil, fmt.Errorf("log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch lc.format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log-format: %q is not text or json", lc.format)
}
