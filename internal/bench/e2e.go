package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/kycgw/kycgw/internal/emulator/bondemu"
	"github.com/kycgw/kycgw/internal/store"
	"github.com/kycgw/kycgw/providers"
	"github.com/kycgw/kycgw/providers/bond"
)

const (
	emuIdentity      = "kycbench-identity"
	emuAuthorization = "kycbench-authorization"
)

// e2eRounds interleaves the paths: each runs in e2eRounds slices of the case duration, in
// turn, so drift in the machine's load touches them alike.
const e2eRounds = 4

// Paths of the end-to-end case.
const (
	pathPlain       = "plain HTTP POST to the emulator"
	pathGatewayGRPC = "gateway Start over gRPC (Bond adapter)"
	pathGatewayREST = "gateway Start over REST (Bond adapter)"
)

// runE2E compares a Start through the gateway and the real Bond adapter with the same POST
// sent straight to the Bond emulator, one request in flight. Webhooks are not involved: the
// emulator would send its first one an hour later, and nothing subscribes.
func (b *runner) runE2E(ctx context.Context) error {
	emu := bondemu.New(bondemu.Options{Identity: emuIdentity, Authorization: emuAuthorization, WebhookDelay: time.Hour})
	ts := httptest.NewServer(emu)
	defer emu.Close()
	defer ts.Close()
	api := ts.URL + "/api/v0.1"

	adapterTr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer adapterTr.CloseIdleConnections()
	bc, err := bond.New(bond.Config{
		Name: "bond", BaseURL: api, Identity: emuIdentity, Authorization: emuAuthorization,
		HTTPClient: &http.Client{Transport: adapterTr, Timeout: 30 * time.Second},
	})
	if err != nil {
		return err
	}
	reg, err := providers.NewRegistry(bc)
	if err != nil {
		return err
	}
	g, err := startGateway(ctx, serverConfig(store.NewMemory(store.MemoryOptions{}), reg, 0, 0))
	if err != nil {
		return err
	}
	defer g.stop()

	plainTr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer plainTr.CloseIdleConnections()
	plain := &http.Client{Transport: plainTr, Timeout: 30 * time.Second}
	const body = `{"program_id":"` + program + `","ssn":"123-45-6789","phone":"555-111-2222",` +
		`"phone_country_code":"1","email":"ada@example.com","ip":"192.168.1.139"}`
	plainOp := func(ctx context.Context, _ int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost,
			api+"/customers/"+newUUID()+"/verification-kyc", strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Identity", emuIdentity)
		req.Header.Set("Authorization", emuAuthorization)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "plain-"+nextID())
		resp, err := plain.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("emulator: HTTP %d: %.200s", resp.StatusCode, b)
		}
		return nil
	}
	grpcOp := func(ctx context.Context, _ int) error {
		_, err := g.client.Start(ctx, startRequest("bond", newUUID(), "e2e-"+nextID()))
		return err
	}
	restOp := func(ctx context.Context, _ int) error {
		_, err := g.restNetHTTP(ctx, http.MethodPost, "/v1/verifications:start", startJSON("bond", newUUID(), "e2e-"+nextID()))
		return err
	}

	paths := []struct {
		name string
		fn   op
	}{{pathPlain, plainOp}, {pathGatewayGRPC, grpcOp}, {pathGatewayREST, restOp}}
	merged := make([]loadResult, len(paths))
	slice := max(b.o.Duration/e2eRounds, time.Millisecond)
	for round := range e2eRounds {
		for i, p := range paths {
			b.progress("e2e: %s (round %d/%d)", p.name, round+1, e2eRounds)
			warm := b.o.Warmup / 2
			if round == 0 {
				warm = b.o.Warmup
			}
			merged[i].merge(runLoad(ctx, 1, warm, slice, p.fn, nil))
		}
	}
	for i, p := range paths {
		m := merged[i]
		s := summarize(m.samples)
		b.rep.E2E = append(b.rep.E2E, E2ERow{
			Path: p.name, Ops: m.ops, Errors: m.errors, QPS: m.qps(),
			P50us: micros(s.p50), P99us: micros(s.p99), AllocsPerOp: m.allocsPerOp(), FirstError: errString(m.firstErr),
		})
	}
	return ctx.Err()
}
