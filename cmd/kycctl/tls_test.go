package main

import (
	"crypto/sha256"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kycgw/kycgw/internal/testkit"

	"github.com/kycgw/kycgw/internal/app"
	"github.com/kycgw/kycgw/internal/config"
)

// TestMutualTLS runs a gateway that requires client certificates (TLS rules out sandbox
// providers, so its one provider points nowhere: GetStatus does not call it).
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	testkit.NewPKI(t).WriteFiles(t, dir)
	const key = "kycctl-tls-test-key-0123456789"
	g := startGateway(t, func(c *app.Config) {
		c.TLSCertFile, c.TLSKeyFile = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
		c.TLSClientCAFile = filepath.Join(dir, "ca.pem")
		c.Providers = config.Config{
			Providers: []config.Provider{{Name: "bond", Type: config.TypeBond, BaseURL: "http://127.0.0.1:1/api/v0.1",
				Identity: "id", Authorization: "auth", WebhookSecret: "whsec_test", Timeout: config.Duration(time.Second)}},
			Tenants: []config.Tenant{{Name: "acme", KeyHashes: [][32]byte{sha256.Sum256([]byte(key))}, Providers: []string{"bond"}}},
		}
	})
	env := func(k string) string { return map[string]string{"ACME_KEY": key}[k] }
	base := []string{"--addr", g.addr, "--api-key-env", "ACME_KEY", "--timeout", "5s"}
	ca := []string{"--ca-file", filepath.Join(dir, "ca.pem")}
	client := []string{"--cert-file", filepath.Join(dir, "client.pem"), "--key-file", filepath.Join(dir, "client-key.pem")}
	status := []string{"status", "vrf_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}
	join := slices.Concat[[]string]

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		// NOT_FOUND is the gateway's answer: the connection, the certificate and the key all passed.
		{"mTLS", join(base, ca, client, status), exitNotFound, "VERIFICATION_NOT_FOUND"},
		{"mTLS with the name to verify", join(base, ca, client, []string{"--server-name", "127.0.0.1"}, status), exitNotFound, "VERIFICATION_NOT_FOUND"},
		{"no client certificate", join(base, ca, status), exitUnavailable, "UNAVAILABLE"},
		{"server not trusted", join(base, []string{"--tls"}, client, status), exitUnavailable, "UNAVAILABLE"},
		{"wrong name", join(base, ca, client, []string{"--server-name", "kycgw.example.com"}, status), exitUnavailable, "UNAVAILABLE"},
		{"plaintext", join(base, status), exitUnavailable, "UNAVAILABLE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := kycctl(t, env, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("got %v\nwant exit %d mentioning %s", r, tc.code, tc.want)
			}
			if strings.Contains(r.stdout+r.stderr, key) {
				t.Fatalf("the API key is in the output:\n%v", r)
			}
		})
	}
}
