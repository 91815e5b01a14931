package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kycgw/kycgw/internal/testkit"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFlagsAndEnvironment(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		env      map[string]string
		wantGRPC string
		wantHTTP string
		wantErr  string
	}{
		{"defaults", nil, nil, "127.0.0.1:9090", "127.0.0.1:8080", ""},
		{"env", nil, map[string]string{"KYCGW_GRPC_ADDR": ":1", "KYCGW_HTTP_ADDR": ":2"}, ":1", ":2", ""},
		{"flag beats env", []string{"--grpc-addr", ":3"}, map[string]string{"KYCGW_GRPC_ADDR": ":1"}, ":3", "127.0.0.1:8080", ""},
		{"bad env value names the variable", nil, map[string]string{"KYCGW_IDEMPOTENCY_TTL": "soon"}, "", "", "KYCGW_IDEMPOTENCY_TTL"},
		{"stray argument", []string{"extra"}, nil, "", "", "unexpected arguments"},
		{"unknown flag", []string{"--nope"}, nil, "", "", "not defined"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			cfg, _, _, err := parseFlags(tc.args, env(tc.env), &stderr)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.GRPCAddr != tc.wantGRPC || cfg.HTTPAddr != tc.wantHTTP {
				t.Fatalf("addrs = %s %s, want %s %s", cfg.GRPCAddr, cfg.HTTPAddr, tc.wantGRPC, tc.wantHTTP)
			}
		})
	}
}

func TestBadOptionsFailStartup(t *testing.T) {
	for _, bad := range [][]string{
		{"--log-format", "xml"}, {"--log-level", "loud"},
		{"--secret-key", "c2hvcnQ="}, {"--config", "/nonexistent/kycgw.yaml"},
		{"--tls-cert-file", "/nonexistent.pem"},
		{"--tls-cert-file", "/nonexistent.pem", "--tls-key-file", "/nonexistent.key"},
		{"--tls-client-ca-file", "/nonexistent.pem"},
	} {
		if err := run(context.Background(), bad, env(nil), &bytes.Buffer{}); err == nil {
			t.Fatalf("%v accepted", bad)
		}
	}
}

// TestRunStopsCleanly is what SIGINT/SIGTERM do: main's context is cancelled, run drains and
// returns nil, so the process exits 0.
func TestRunStopsCleanly(t *testing.T) {
	var logs testkit.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--log-format", "json"}, env(nil), &logs)
	}()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), `"msg":"ready"`); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not ready; logs:\n%s", logs.String())
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	if !strings.Contains(logs.String(), "shutting down") {
		t.Fatalf("no shutdown log:\n%s", logs.String())
	}
}
