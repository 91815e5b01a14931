package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// connect opens a client for the gateway with the API key attached to every call. It returns
// the exit code to use when it fails (and has said why).
func (c *cli) connect() (kycv1.KycServiceClient, func(), int) {
	key, ok := c.apiKey()
	if !ok {
		return nil, nil, exitUsage
	}
	creds, secure, err := c.transportCredentials()
	if err != nil {
		c.errorf("%v", err)
		return nil, nil, exitUsage
	}
	if !secure && !loopback(c.g.addr) {
		c.errorf("warning: sending the API key to %s without TLS; use --tls unless the network is private", c.g.addr)
	}
	conn, err := grpc.NewClient(c.g.addr,
		grpc.WithTransportCredentials(creds),
		grpc.WithPerRPCCredentials(bearer{key: key, secure: secure}),
		grpc.WithUserAgent("kycctl"),
		// grpc-go's default reconnect backoff grows to two minutes; a watch that resumes after
		// a gateway restart should find it within seconds.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: maxBackoff},
			MinConnectTimeout: 5 * time.Second,
		}),
	)
	if err != nil {
		c.errorf("--addr %s: %v", c.g.addr, err)
		return nil, nil, exitUsage
	}
	return kycv1.NewKycServiceClient(conn), func() { conn.Close() }, exitOK
}

// transportCredentials is TLS when any TLS flag asks for it, else plaintext.
func (c *cli) transportCredentials() (credentials.TransportCredentials, bool, error) {
	g := c.g
	if !g.tls && g.caFile == "" && g.certFile == "" && g.serverName == "" {
		return insecure.NewCredentials(), false, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: g.serverName}
	if g.caFile != "" {
		pem, err := os.ReadFile(g.caFile)
		if err != nil {
			return nil, false, fmt.Errorf("--ca-file: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, false, errors.New("--ca-file: no PEM certificates in it")
		}
	}
	if g.certFile != "" {
		cert, err := tls.LoadX509KeyPair(g.certFile, g.keyFile)
		if err != nil {
			return nil, false, fmt.Errorf("--cert-file/--key-file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return credentials.NewTLS(cfg), true, nil
}

// loopback reports whether addr names this machine, where plaintext exposes nothing.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// bearer sends the API key as gRPC metadata "authorization: Bearer <key>".
type bearer struct {
	key    string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.key}, nil
}

// RequireTransportSecurity is true over TLS, so grpc-go never sends the key over a connection
// that lost it.
func (b bearer) RequireTransportSecurity() bool { return b.secure }
