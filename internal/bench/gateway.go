package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"github.com/kycgw/kycgw/internal/store"
	"github.com/kycgw/kycgw/providers"
	"github.com/kycgw/kycgw/server"
	"google.golang.org/grpc"
)

var (
	errShortEcho   = errors.New("echo came back short")
	errNotReplayed = errors.New("replayed Start was not marked replayed")
)

// program is the program id of every benchmark Start (a UUID, as Bond requires).
const program = "72585109-8222-4221-b15b-48e87ffed790"

// The benchmark's one tenant and its API key. Clients present the key on every call (gRPC
// metadata, REST Authorization header), as real clients do.
const (
	benchTenant = "kycbench"
	benchAPIKey = "kycbench-api-key"
)

// serverConfig is the one place the benchmark configures a gateway: every case starts its
// server from here, so a new required option is added once. maxStreams is how many event
// streams the tenant may hold open.
func serverConfig(st store.Store, reg *providers.Registry, streamQueue, maxStreams int) server.Config {
	return server.Config{
		GRPCAddr:  "127.0.0.1:0",
		HTTPAddr:  "127.0.0.1:0",
		Store:     st,
		Providers: reg,
		Tenants: []server.Tenant{{
			Name:       benchTenant,
			KeyHashes:  [][sha256.Size]byte{server.HashKey(benchAPIKey)},
			Providers:  reg.Names(),
			MaxStreams: maxStreams,
		}},
		StreamQueueSize: streamQueue,
		// A gateway logs every Start at Info; the benchmark measures the service, not a log sink.
		Logger: slog.New(slog.DiscardHandler),
	}
}

// bearer presents the benchmark's API key on every gRPC call.
type bearer struct{}

func (bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + benchAPIKey}, nil
}

// RequireTransportSecurity is false: the benchmark runs on loopback without TLS.
func (bearer) RequireTransportSecurity() bool { return false }

// gateway is one running kycgw server and the clients that drive it.
type gateway struct {
	srv    *server.Server
	conn   *grpc.ClientConn
	client kycv1.KycServiceClient
	base   string       // http://host:port of the REST port
	http   *http.Client // the readiness check and the end-to-end REST path
	tr     *http.Transport
	restc  *restClient // the REST cases' load
	cancel context.CancelFunc
	done   chan error
}

func startGateway(ctx context.Context, cfg server.Config) (*gateway, error) {
	srv, err := server.New(cfg)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	g := &gateway{srv: srv, cancel: cancel, done: make(chan error, 1), base: "http://" + srv.HTTPAddr().String()}
	go func() { g.done <- srv.Serve(sctx) }()
	g.tr = &http.Transport{MaxIdleConnsPerHost: 64}
	g.http = &http.Client{Transport: g.tr, Timeout: 30 * time.Second}
	// One HTTP/1.1 connection per in-flight request, as a pool of REST clients would hold.
	g.restc = newRESTClient(srv.HTTPAddr().String(), "Bearer "+benchAPIKey)
	if g.conn, err = dialGRPC(srv.GRPCAddr().String(), grpc.WithPerRPCCredentials(bearer{})); err != nil {
		g.stop()
		return nil, err
	}
	g.client = kycv1.NewKycServiceClient(g.conn)
	if err := g.waitReady(ctx); err != nil {
		g.stop()
		return nil, err
	}
	return g, nil
}

func (g *gateway) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, g.base+"/readyz", nil)
		resp, err := g.http.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("gateway not ready: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (g *gateway) stop() error {
	if g.conn != nil {
		g.conn.Close()
	}
	g.cancel()
	err := <-g.done
	g.tr.CloseIdleConnections()
	g.restc.close()
	return err
}

// ids hands out process-unique numbers for subjects and idempotency keys, so "fresh" stays
// fresh across cases that share a store.
var ids atomic.Int64

func nextID() string { return strconv.FormatInt(ids.Add(1), 10) }

// newUUID returns a random version 4 UUID (Bond's customer ids are UUIDs).
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// startRequest is the benchmark's Start: a customer subject and a full applicant.
func startRequest(provider, customer, key string) *kycv1.StartRequest {
	return &kycv1.StartRequest{
		Provider:  provider,
		ProgramId: program,
		Subject:   &kycv1.Subject{Kind: &kycv1.Subject_CustomerId{CustomerId: customer}},
		Applicant: &kycv1.Applicant{
			Ssn: "123-45-6789", Phone: "555-111-2222", PhoneCountryCode: "1",
			Email: "ada@example.com", Ip: "192.168.1.139",
		},
		IdempotencyKey: key,
	}
}

// startJSON is startRequest as the REST body.
func startJSON(provider, customer, key string) string {
	return `{"provider":"` + provider + `","program_id":"` + program +
		`","subject":{"customer_id":"` + customer +
		`"},"applicant":{"ssn":"123-45-6789","phone":"555-111-2222","phone_country_code":"1",` +
		`"email":"ada@example.com","ip":"192.168.1.139"},"idempotency_key":"` + key + `"}`
}

// rpc names what a gateway case calls.
type rpc string

const (
	rpcStartFresh  rpc = "Start (fresh)"
	rpcStartReplay rpc = "Start (replay)"
	rpcGetStatus   rpc = "GetStatus"
)

var rpcs = []rpc{rpcStartFresh, rpcStartReplay, rpcGetStatus}

// Transports.
const (
	transportGRPC = "grpc"
	transportREST = "rest"
)

// fixture is what the replay and GetStatus cases need to exist before they run.
type fixture struct {
	replay []*kycv1.StartRequest // one per worker: already completed, so every call replays
	ids    []string              // verification ids to read
}

// prepare creates the fixture through the gateway: conc replay keys and a set of verifications.
func (g *gateway) prepare(ctx context.Context, provider string, conc int) (*fixture, error) {
	f := &fixture{}
	for range conc {
		n := nextID()
		req := startRequest(provider, "replay-"+n, "replay-"+n)
		resp, err := g.client.Start(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("preparing replays: %w", err)
		}
		f.replay = append(f.replay, req)
		f.ids = append(f.ids, resp.GetVerification().GetVerificationId())
	}
	for len(f.ids) < 256 {
		n := nextID()
		resp, err := g.client.Start(ctx, startRequest(provider, "status-"+n, "status-"+n))
		if err != nil {
			return nil, fmt.Errorf("preparing verifications: %w", err)
		}
		f.ids = append(f.ids, resp.GetVerification().GetVerificationId())
	}
	return f, nil
}

// op returns the client operation of one case.
func (g *gateway) op(r rpc, transport, provider string, f *fixture) op {
	var next atomic.Uint64
	pick := func() string { return f.ids[next.Add(1)%uint64(len(f.ids))] }
	switch transport + "/" + string(r) {
	case transportGRPC + "/" + string(rpcStartFresh):
		return func(ctx context.Context, _ int) error {
			n := nextID()
			_, err := g.client.Start(ctx, startRequest(provider, "c-"+n, "k-"+n))
			return err
		}
	case transportGRPC + "/" + string(rpcStartReplay):
		return func(ctx context.Context, w int) error {
			resp, err := g.client.Start(ctx, f.replay[w%len(f.replay)])
			if err == nil && !resp.GetReplayed() {
				err = errNotReplayed
			}
			return err
		}
	case transportGRPC + "/" + string(rpcGetStatus):
		return func(ctx context.Context, _ int) error {
			_, err := g.client.GetStatus(ctx, &kycv1.GetStatusRequest{VerificationId: pick()})
			return err
		}
	case transportREST + "/" + string(rpcStartFresh):
		return func(_ context.Context, w int) error {
			n := nextID()
			_, err := g.rest(w, http.MethodPost, "/v1/verifications:start", startJSON(provider, "c-"+n, "k-"+n))
			return err
		}
	case transportREST + "/" + string(rpcStartReplay):
		bodies := make([]string, len(f.replay))
		for i, req := range f.replay {
			bodies[i] = startJSON(provider, req.GetSubject().GetCustomerId(), req.GetIdempotencyKey())
		}
		return func(_ context.Context, w int) error {
			body, err := g.rest(w, http.MethodPost, "/v1/verifications:start", bodies[w%len(bodies)])
			if err == nil && !bytes.Contains(body, []byte(`"replayed":true`)) {
				err = errNotReplayed
			}
			return err
		}
	case transportREST + "/" + string(rpcGetStatus):
		return func(_ context.Context, w int) error {
			_, err := g.rest(w, http.MethodGet, "/v1/verifications/"+pick(), "")
			return err
		}
	}
	panic("bench: unknown case " + transport + "/" + string(r))
}

// rest makes one REST call on worker's connection and returns the body of a 200.
func (g *gateway) rest(worker int, method, path, body string) ([]byte, error) {
	code, b, err := g.restc.do(worker, method, path, body)
	return ok200(method, path, code, b, err)
}

// restNetHTTP makes one REST call with net/http's client, as the end-to-end paths do (its
// plain POST to the emulator is net/http too), and returns the body of a 200.
func (g *gateway) restNetHTTP(ctx context.Context, method, path, body string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, g.base+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+benchAPIKey)
	resp, err := g.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return ok200(method, path, resp.StatusCode, b, err)
}

func ok200(method, path string, code int, body []byte, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("%s %s: HTTP %d: %.200s", method, path, code, body)
	}
	return body, nil
}

// instant is the benchmark's provider: it answers at once and keeps nothing, so the gateway is
// measured alone. (providertest.Fake records every call for the tests to inspect; over a
// benchmark that record grows by every request made, behind one mutex, and the garbage
// collector marks all of it on every cycle.)
type instant struct{}

func (instant) Name() string { return "fake" }

func (instant) Start(context.Context, providers.StartInput) (providers.Result, error) {
	return providers.Result{Status: providers.StatusPending, ProviderStatus: "submitted", Submitted: true}, nil
}

func (instant) Status(context.Context, providers.StatusInput) (providers.Result, error) {
	return providers.Result{Status: providers.StatusNotStarted, ProviderStatus: "not_started"}, nil
}
