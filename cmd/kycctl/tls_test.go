package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kycgw/kycgw/internal/app"
	"github.com/kycgw/kycgw/internal/config"
)

// writePKI writes a CA, a server certificate for 127.0.0.1 and a client certificate, as PEM
// files in dir.
func writePKI(t *testing.T, dir string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kycctl test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	write := func(name, typ string, der []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ca.pem", "CERTIFICATE", caDER)
	issue := func(name string, serial int64, usage x509.ExtKeyUsage, ips []net.IP) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "kycctl test " + name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		write(name+".pem", "CERTIFICATE", der)
		write(name+"-key.pem", "EC PRIVATE KEY", keyDER)
	}
	issue("server", 2, x509.ExtKeyUsageServerAuth, []net.IP{net.ParseIP("127.0.0.1")})
	issue("client", 3, x509.ExtKeyUsageClientAuth, nil)
}

// TestMutualTLS runs a gateway that requires client certificates (TLS rules out sandbox
// providers, so its one provider points nowhere: GetStatus does not call it).
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	writePKI(t, dir)
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
