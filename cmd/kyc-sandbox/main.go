// Command kyc-sandbox serves the provider emulators on their own, for running kycgw (or any
// other client) against them from outside: several gateway replicas sharing one provider, or an
// integration environment. kycgw mounts the same emulators in-process when it runs without a
// configuration file.
//
// Paths: /sandbox/bond/, /sandbox/atelio/ (Bond API family, /api/v0.1/...) and
// /sandbox/cloudpayments/ (kyc-ms). Every flag can also be set by KYC_SANDBOX_<NAME>.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/kycgw/kycgw/internal/app"
	"github.com/kycgw/kycgw/internal/emulator/bondemu"
	"github.com/kycgw/kycgw/internal/emulator/cpemu"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "kyc-sandbox:", err)
		os.Exit(1)
	}
}

type options struct {
	addr                       string
	bondIdentity, bondAuth     string
	atelioIdentity, atelioAuth string
	webhookDelay, reviewDelay  time.Duration
}

// run serves until ctx is done. ready, when set, receives the bound address.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, ready chan<- string) error {
	var o options
	fs := flag.NewFlagSet("kyc-sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8090", "listen address")
	fs.StringVar(&o.bondIdentity, "bond-identity", app.SandboxIdentity("bond"), "Identity header the Bond emulator accepts")
	fs.StringVar(&o.bondAuth, "bond-authorization", app.SandboxAuthorization("bond"), "Authorization header the Bond emulator accepts")
	fs.StringVar(&o.atelioIdentity, "atelio-identity", app.SandboxIdentity("atelio"), "Identity header the Atelio emulator accepts")
	fs.StringVar(&o.atelioAuth, "atelio-authorization", app.SandboxAuthorization("atelio"), "Authorization header the Atelio emulator accepts")
	fs.DurationVar(&o.webhookDelay, "webhook-delay", 300*time.Millisecond, "delay before the first webhook")
	fs.DurationVar(&o.reviewDelay, "review-delay", 2*time.Second, "how long reviews take")
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "KYC_SANDBOX_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" && !set[f.Name] && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("%s: %w", name, err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	bond := bondemu.New(bondemu.Options{Identity: o.bondIdentity, Authorization: o.bondAuth, WebhookDelay: o.webhookDelay,
		Logger: log.With("provider", "bond")})
	defer bond.Close()
	atelio := bondemu.New(bondemu.Options{Identity: o.atelioIdentity, Authorization: o.atelioAuth, WebhookDelay: o.webhookDelay,
		Logger: log.With("provider", "atelio")})
	defer atelio.Close()
	cp := cpemu.New(cpemu.Options{ReviewDelay: o.reviewDelay, Logger: log.With("provider", "cloudpayments")})

	mux := http.NewServeMux()
	mux.Handle("/sandbox/bond/", http.StripPrefix("/sandbox/bond", bond))
	mux.Handle("/sandbox/atelio/", http.StripPrefix("/sandbox/atelio", atelio))
	mux.Handle("/sandbox/cloudpayments/", http.StripPrefix("/sandbox/cloudpayments", cp))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, `{"status":"ok"}`) })

	lis, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	log.Info("sandbox serving", "addr", lis.Addr().String(),
		"bond", "http://"+lis.Addr().String()+"/sandbox/bond/api/v0.1",
		"atelio", "http://"+lis.Addr().String()+"/sandbox/atelio/api/v0.1",
		"cloudpayments", "http://"+lis.Addr().String()+"/sandbox/cloudpayments")
	if ready != nil {
		ready <- lis.Addr().String()
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
