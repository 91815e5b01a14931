package server_test

import (
	"crypto/tls"
	"net/http"
	"strings"
	"testing"

	"github.com/kycgw/kycgw/internal/testkit"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"github.com/kycgw/kycgw/internal/store"
	"github.com/kycgw/kycgw/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

func TestTLSAndClientCertificates(t *testing.T) {
	pki := testkit.NewPKI(t)
	e := newEnvNoClient(t, func(c *server.Config, _ *store.MemoryOptions) {
		c.GRPCTLS = &tls.Config{Certificates: []tls.Certificate{pki.Server}, ClientCAs: pki.Pool,
			ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
		c.HTTPTLS = &tls.Config{Certificates: []tls.Certificate{pki.Server}, MinVersion: tls.VersionTLS12}
	})
	dial := func(certs []tls.Certificate) kycv1.KycServiceClient {
		creds := credentials.NewTLS(&tls.Config{RootCAs: pki.Pool, Certificates: certs, MinVersion: tls.VersionTLS12})
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
	if _, err := dial([]tls.Certificate{pki.Client}).Start(e.ctx(), validStart("tls-2")); err != nil {
		t.Fatalf("mTLS client: %v", err)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.Pool, MinVersion: tls.VersionTLS12}}
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
