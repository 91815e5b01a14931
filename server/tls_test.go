package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"github.com/kycgw/kycgw/internal/store"
	"github.com/kycgw/kycgw/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and a client certificate.
type testPKI struct {
	pool           *x509.CertPool
	server, client tls.Certificate
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kycgw test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, usage x509.ExtKeyUsage, ips []net.IP) tls.Certificate {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "kycgw test"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	p := &testPKI{pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.server = issue(2, x509.ExtKeyUsageServerAuth, []net.IP{net.ParseIP("127.0.0.1")})
	p.client = issue(3, x509.ExtKeyUsageClientAuth, nil)
	return p
}

func TestTLSAndClientCertificates(t *testing.T) {
	pki := newPKI(t)
	e := newEnvNoClient(t, func(c *server.Config, _ *store.MemoryOptions) {
		c.GRPCTLS = &tls.Config{Certificates: []tls.Certificate{pki.server}, ClientCAs: pki.pool,
			ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
		c.HTTPTLS = &tls.Config{Certificates: []tls.Certificate{pki.server}, MinVersion: tls.VersionTLS12}
	})
	dial := func(certs []tls.Certificate) kycv1.KycServiceClient {
		creds := credentials.NewTLS(&tls.Config{RootCAs: pki.pool, Certificates: certs, MinVersion: tls.VersionTLS12})
		conn, err := grpc.NewClient(e.srv.GRPCAddr().String(), grpc.WithTransportCredentials(creds), grpc.WithPerRPCCredentials(bearer(testKey)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return kycv1.NewKycServiceClient(conn)
	}
	if _, err := dial(nil).Start(e.ctx(), validStart("tls-1")); err == nil {
		t.Fatal("a client without a certificate was served")
	}
	if _, err := dial([]tls.Certificate{pki.client}).Start(e.ctx(), validStart("tls-2")); err != nil {
		t.Fatalf("mTLS client: %v", err)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.pool, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	https := "https://" + e.srv.HTTPAddr().String()
	req, _ := http.NewRequest(http.MethodPost, https+"/v1/verifications:start", strings.NewReader(protoJSON(t, validStart("tls-3"))))
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("REST over HTTPS (through the in-process connection): %d", resp.StatusCode)
	}
	plain := &http.Transport{}
	defer plain.CloseIdleConnections()
	if resp, err := (&http.Client{Transport: plain}).Get("http://" + e.srv.HTTPAddr().String() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP was served on a TLS port")
		}
	}
}
