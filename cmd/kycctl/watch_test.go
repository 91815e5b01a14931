package main

import (
	"context"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kycgw/kycgw/internal/testkit"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"github.com/kycgw/kycgw/internal/app"
	"google.golang.org/protobuf/encoding/protojson"
)

func (g *gateway) start(t *testing.T, customer, ssn string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := g.client.Start(ctx, &kycv1.StartRequest{
		Provider: "bond", ProgramId: program,
		Subject:   &kycv1.Subject{Kind: &kycv1.Subject_CustomerId{CustomerId: customer}},
		Applicant: &kycv1.Applicant{Ssn: ssn},
	})
	if err != nil {
		t.Fatalf("Start %s: %v", customer, err)
	}
	return resp.GetVerification().GetVerificationId()
}

// waitStatus polls the gateway until the verification has the status.
func (g *gateway) waitStatus(t *testing.T, vid string, want kycv1.KycStatus) {
	t.Helper()
	testkit.Eventually(t, vid+" "+want.String(), func() bool {
		resp, err := g.client.GetStatus(context.Background(), &kycv1.GetStatusRequest{VerificationId: vid})
		return err == nil && resp.GetVerification().GetStatus() == want
	})
}

// events reads the gateway's own event log from the start until the verification reaches the
// status: what a watch from the start must have printed, exactly.
func (g *gateway) events(t *testing.T, vid string, until kycv1.KycStatus) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	stream, err := g.client.StreamEvents(ctx, &kycv1.StreamEventsRequest{AfterEventId: "0"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("reading the event log: %v (after %v)", err, ids)
		}
		ev := resp.GetEvent()
		ids = append(ids, ev.GetEventId())
		if ev.GetVerificationId() == vid && ev.GetStatus() == until {
			return ids
		}
	}
}

// background is a kycctl command running until its context is cancelled.
type background struct {
	stdout, stderr testkit.SyncBuffer
	cancel         context.CancelFunc
	done           chan int
}

func runBackground(t *testing.T, args ...string) *background {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b := &background{cancel: cancel, done: make(chan int, 1)}
	go func() { b.done <- run(ctx, args, devEnv(), &b.stdout, &b.stderr) }()
	t.Cleanup(func() { b.stop(t) })
	return b
}

// stop is Ctrl-C: it returns the exit code.
func (b *background) stop(t *testing.T) int {
	t.Helper()
	b.cancel()
	select {
	case code := <-b.done:
		b.done <- code // stop is idempotent
		return code
	case <-time.After(10 * time.Second):
		t.Fatal("kycctl did not stop after Ctrl-C")
		return -1
	}
}

// jsonEvents parses watch --output json's lines.
func jsonEvents(t *testing.T, out string) []*kycv1.Event {
	t.Helper()
	var evs []*kycv1.Event
	for l := range strings.Lines(out) {
		if !strings.HasSuffix(l, "\n") {
			break // a line still being written
		}
		ev := &kycv1.Event{}
		if err := protojson.Unmarshal([]byte(l), ev); err != nil {
			t.Fatalf("not an Event: %v\n%s", err, l)
		}
		evs = append(evs, ev)
	}
	return evs
}

func printed(t *testing.T, b *background, vid string, st kycv1.KycStatus) func() bool {
	return func() bool {
		return slices.ContainsFunc(jsonEvents(t, b.stdout.String()), func(ev *kycv1.Event) bool {
			return ev.GetVerificationId() == vid && ev.GetStatus() == st
		})
	}
}

// proxy forwards TCP connections to the gateway and can cut them, as a network or a load
// balancer would.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	refuse bool
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	p.wg.Go(p.serve)
	t.Cleanup(func() {
		ln.Close()
		p.cut(true)
		p.wg.Wait()
	})
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		var up net.Conn
		if !p.refuse {
			up, err = net.Dial("tcp", p.target)
		}
		if p.refuse || err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		p.wg.Go(func() { pipe(up, c) })
		p.wg.Go(func() { pipe(c, up) })
	}
}

// cut breaks every open connection; while refuse is set, new ones are closed at once.
func (p *proxy) cut(refuse bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = refuse
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) allow() {
	p.mu.Lock()
	p.refuse = false
	p.mu.Unlock()
}

// TestWatchResumesAfterConnectionCut cuts the watch's connection while a verification is
// still producing events, keeps the gateway out of reach while more events happen, then lets
// it reconnect: every event is printed exactly once, in the gateway's order.
func TestWatchResumesAfterConnectionCut(t *testing.T) {
	g := startGateway(t, func(c *app.Config) { c.SandboxWebhookDelay = 200 * time.Millisecond })
	p := newProxy(t, g.addr)
	w := runBackground(t, "--addr", p.addr(), "--output", "json", "watch", "--from-start")

	// SSN 111-11-0001: documents required, then under review, then passed, a webhook apart.
	a := g.start(t, "1a1a1a1a-0000-4000-8000-00000000000a", "111-11-0001")
	testkit.Eventually(t, "A's DOCUMENTS_REQUIRED printed", printed(t, w, a, kycv1.KycStatus_KYC_STATUS_DOCUMENTS_REQUIRED))
	p.cut(true)
	beforeCut := len(jsonEvents(t, w.stdout.String()))
	testkit.Eventually(t, "the watch to notice the cut", func() bool { return strings.Contains(w.stderr.String(), "stream interrupted") })

	// While the watch cannot reach the gateway, A finishes and B happens entirely.
	b := g.start(t, "2b2b2b2b-0000-4000-8000-00000000000b", passSSN)
	g.waitStatus(t, a, kycv1.KycStatus_KYC_STATUS_PASSED)
	g.waitStatus(t, b, kycv1.KycStatus_KYC_STATUS_PASSED)
	p.allow()
	testkit.Eventually(t, "B's PASSED printed after the reconnection", printed(t, w, b, kycv1.KycStatus_KYC_STATUS_PASSED))

	// And the resumed stream follows live events.
	c := g.start(t, "3c3c3c3c-0000-4000-8000-00000000000c", passSSN)
	testkit.Eventually(t, "C's PASSED printed", printed(t, w, c, kycv1.KycStatus_KYC_STATUS_PASSED))
	if code := w.stop(t); code != exitOK {
		t.Fatalf("watch stopped by Ctrl-C: exit %d\n%s", code, w.stderr.String())
	}

	var got []string
	for _, ev := range jsonEvents(t, w.stdout.String()) {
		got = append(got, ev.GetEventId())
	}
	want := g.events(t, c, kycv1.KycStatus_KYC_STATUS_PASSED)
	if !slices.Equal(got, want) {
		t.Fatalf("printed event ids %v\nwant exactly the gateway's %v\nstderr:\n%s", got, want, w.stderr.String())
	}
	if beforeCut >= len(got) || len(want) != 8 {
		t.Fatalf("%d of %d events printed before the cut; want some after it, and 8 in all", beforeCut, len(got))
	}
	// The resumption asked for the events after the last one printed before the cut.
	if lastBefore := got[beforeCut-1]; !strings.Contains(w.stderr.String(), "resuming after event "+lastBefore) {
		t.Errorf("stderr does not show the resume cursor %s:\n%s", lastBefore, w.stderr.String())
	}
}

// TestWatchResumesAcrossGatewayRestart stops the gateway under a watch (the stream ends with
// SHUTTING_DOWN) and starts another on the same address: the watch resumes on it.
func TestWatchResumesAcrossGatewayRestart(t *testing.T) {
	first, stopFirst := startStoppable(t, "127.0.0.1:0")
	w := runBackground(t, "--addr", first.addr, "--output", "json", "watch", "--from-start")
	a := first.start(t, "4d4d4d4d-0000-4000-8000-00000000000d", passSSN)
	testkit.Eventually(t, "A's PASSED printed", printed(t, w, a, kycv1.KycStatus_KYC_STATUS_PASSED))
	stopFirst()
	testkit.Eventually(t, "the watch to see the shutdown", func() bool {
		return strings.Contains(w.stderr.String(), "SHUTTING_DOWN") || strings.Contains(w.stderr.String(), "shutting down")
	})

	second, _ := startStoppable(t, first.addr)
	b := second.start(t, "5e5e5e5e-0000-4000-8000-00000000000e", passSSN)
	testkit.Eventually(t, "B's PASSED printed from the restarted gateway", printed(t, w, b, kycv1.KycStatus_KYC_STATUS_PASSED))
	if code := w.stop(t); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	seen := map[string]bool{}
	for _, ev := range jsonEvents(t, w.stdout.String()) {
		if seen[ev.GetEventId()] {
			t.Fatalf("event %s printed twice:\n%s", ev.GetEventId(), w.stdout.String())
		}
		seen[ev.GetEventId()] = true
	}
	if len(seen) != 4 {
		t.Fatalf("printed %d events, want A's and B's two each:\n%s", len(seen), w.stdout.String())
	}
}

func TestWatchCursorExpired(t *testing.T) {
	g := startGateway(t, func(c *app.Config) { c.EventMaxLen = 2 })
	for _, cust := range []string{"6f6f6f6f-0000-4000-8000-00000000000f", "7a7a7a7a-0000-4000-8000-00000000001a"} {
		g.waitStatus(t, g.start(t, cust, passSSN), kycv1.KycStatus_KYC_STATUS_PASSED)
	}
	r := kycctl(t, devEnv(), "--addr", g.addr, "watch", "--after", "1-0")
	if r.code != exitCursorExpired || !strings.Contains(r.stderr, "OUT_OF_RANGE") || !strings.Contains(r.stderr, "reason: CURSOR_EXPIRED") ||
		!strings.Contains(r.stderr, "the cursor 1-0 is older than the events the gateway retains") || !strings.Contains(r.stderr, "--from-start") {
		t.Fatalf("got %v", r)
	}
}

func TestWatchFiltersAndStopsOnCtrlC(t *testing.T) {
	g := startGateway(t)
	passed := g.start(t, "8b8b8b8b-0000-4000-8000-00000000002b", passSSN)
	w := runBackground(t, "--addr", g.addr, "watch", "--from-start", "--provider", "bond", "--status", "passed")
	testkit.Eventually(t, "the PASSED line", func() bool {
		return strings.Contains(w.stdout.String(), "verification_id="+passed+" provider=bond status=PASSED")
	})
	if code := w.stop(t); code != exitOK {
		t.Fatalf("Ctrl-C on a plain watch: exit %d, want 0", code)
	}
	if strings.Contains(w.stdout.String(), "status=PENDING") {
		t.Fatalf("--status passed printed another status:\n%s", w.stdout.String())
	}

	// SSN 000-00-0000 stays under review: --until-terminal is still waiting at Ctrl-C.
	waiting := g.start(t, "9c9c9c9c-0000-4000-8000-00000000003c", "000-00-0000")
	w = runBackground(t, "--addr", g.addr, "watch", "--verification-id", waiting, "--until-terminal")
	testkit.Eventually(t, "the UNDER_REVIEW line", func() bool { return strings.Contains(w.stdout.String(), "status=UNDER_REVIEW") })
	if code := w.stop(t); code != exitInterrupted {
		t.Fatalf("Ctrl-C while --until-terminal waits: exit %d, want %d", code, exitInterrupted)
	}
}

// TestUntilTerminalOnFinishedVerification: a verification already terminal whose terminal
// event the stream will not bring (here: it lies before --after) does not wait forever.
func TestUntilTerminalOnFinishedVerification(t *testing.T) {
	g := startGateway(t)
	vid := g.start(t, "0d0d0d0d-0000-4000-8000-00000000004d", passSSN)
	g.waitStatus(t, vid, kycv1.KycStatus_KYC_STATUS_PASSED)
	ids := g.events(t, vid, kycv1.KycStatus_KYC_STATUS_PASSED)
	r := kycctl(t, devEnv(), "--addr", g.addr, "watch", "--verification-id", vid, "--until-terminal", "--after", ids[len(ids)-1])
	if r.code != exitOK || r.stdout != "" || !strings.Contains(r.stderr, vid+" was already PASSED") {
		t.Fatalf("got %v", r)
	}
}
