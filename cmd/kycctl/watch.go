package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Reconnect backoff: from minBackoff, doubling to maxBackoff, reset by any delivered event.
const (
	minBackoff = 200 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// terminalGrace is how long watch --until-terminal waits for the terminal event of a
// verification that GetStatus already showed terminal: long enough for a replay to bring it,
// so that the event is printed, and bounded for when retention dropped it.
const terminalGrace = 3 * time.Second

var errAlreadyTerminal = errors.New("already terminal")

func watchCommand() command {
	return command{
		name:    "watch",
		summary: "follow the event stream, resuming after disconnects: KycService.StreamEvents",
		about: `Watch follows the gateway's stream of normalized events and prints each event as one line of
key=value pairs (--output json: one protojson object per line).

Where it starts: --from-start replays every retained event, then follows; --after EVENT_ID
resumes after that event; with neither, only new events are shown, except that with
--verification-id the verification's retained events are replayed first, so nothing that
happened before the watch began is missed.

Watch survives disconnects: when the connection breaks, or the gateway ends the stream because
it shuts down or its store is briefly unavailable, watch reconnects with backoff and resumes
after the last event it printed, so no event is printed twice or skipped. If the cursor is
older than what the gateway retains, it stops with CURSOR_EXPIRED (exit 8): start over with
--from-start and reconcile with 'kycctl status'.

--until-terminal (with --verification-id) exits 0 once the verification reaches a status that
only a new Start can change: PASSED, FAILED, ERROR, EXPIRED or RESUBMIT_REQUIRED. Ctrl-C stops
a watch: exit 0, or 130 while --until-terminal was still waiting.

Examples:
  kycctl watch --verification-id ` + helpVerification + ` --until-terminal
  kycctl watch --from-start --provider bond --status PASSED --status FAILED
  kycctl --output json watch --after 1712345678901-0 | jq .status`,
		flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) int {
			o := &watchOptions{}
			fs.StringVar(&o.verification, "verification-id", "", "only events of this verification")
			fs.StringVar(&o.provider, "provider", "", "only events of this provider instance")
			fs.StringVar(&o.program, "program-id", "", "only events of this program")
			fs.Var(&o.statuses, "status", "only events whose new `STATUS` is this one (PASSED or KYC_STATUS_PASSED; repeatable, or comma-separated)")
			fs.StringVar(&o.after, "after", "", "resume after this `EVENT_ID` (an event_id printed earlier)")
			fs.BoolVar(&o.fromStart, "from-start", false, `replay every retained event first (after_event_id "0")`)
			fs.BoolVar(&o.untilTerminal, "until-terminal", false, "with --verification-id: exit 0 once it reaches a terminal status")
			return func(ctx context.Context, args []string) int { return c.watch(ctx, o, args) }
		},
	}
}

type watchOptions struct {
	verification, provider, program string
	statuses                        statusList
	after                           string
	fromStart, untilTerminal        bool
}

// statusList is the repeatable --status flag.
type statusList []kycv1.KycStatus

func (l *statusList) String() string {
	if l == nil {
		return ""
	}
	names := make([]string, len(*l))
	for i, s := range *l {
		names[i] = statusName(s)
	}
	return strings.Join(names, ",")
}

func (l *statusList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		s, ok := parseStatus(part)
		if !ok {
			var known []string
			for i := 1; i < len(kycv1.KycStatus_name); i++ {
				known = append(known, statusName(kycv1.KycStatus(i)))
			}
			return fmt.Errorf("unknown status %q; known: %s", part, strings.Join(known, ", "))
		}
		*l = append(*l, s)
	}
	return nil
}

func (c *cli) watch(ctx context.Context, o *watchOptions, args []string) int {
	if len(args) > 0 {
		return c.usageError("watch takes no arguments, only flags: " + strings.Join(args, " "))
	}
	if o.after != "" && o.fromStart {
		return c.usageError("--after and --from-start exclude each other")
	}
	if o.untilTerminal && o.verification == "" {
		return c.usageError("--until-terminal needs --verification-id")
	}
	cursor := o.after
	if o.fromStart || (cursor == "" && o.verification != "") {
		cursor = "0"
	}
	client, closeConn, code := c.connect()
	if code != exitOK {
		return code
	}
	defer closeConn()
	w := &watcher{c: c, client: client, o: o, cursor: cursor}
	return w.run(ctx)
}

// watcher follows the stream across reconnections. cursor is the last event printed (or the
// starting cursor): every new stream asks for the events after it.
type watcher struct {
	c       *cli
	client  kycv1.KycServiceClient
	o       *watchOptions
	cursor  string
	printed bool // some event was printed since the last (re)connection
}

func (w *watcher) run(ctx context.Context) int {
	c := w.c
	var already kycv1.KycStatus
	if w.o.untilTerminal {
		// Also a prompt error for a mistyped id, which would otherwise wait forever.
		callCtx, cancel := context.WithTimeout(ctx, c.g.timeout)
		resp, err := w.client.GetStatus(callCtx, &kycv1.GetStatusRequest{VerificationId: w.o.verification})
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return exitInterrupted
			}
			return c.report("watch", err)
		}
		if s := resp.GetVerification().GetStatus(); terminal(s) {
			already = s
		}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if already != kycv1.KycStatus_KYC_STATUS_UNSPECIFIED {
		t := time.AfterFunc(terminalGrace, func() { cancel(errAlreadyTerminal) })
		defer t.Stop()
	}

	delay, warned := minBackoff, false
	for attempt := 0; ; attempt++ {
		done, opened, err := w.follow(ctx)
		switch {
		case done:
			return exitOK
		case errors.Is(context.Cause(ctx), errAlreadyTerminal):
			c.errorf("%s was already %s when the watch began, and its terminal event is no longer retained (or lies before --after)",
				w.o.verification, statusName(already))
			return exitOK
		case ctx.Err() != nil:
			if w.o.untilTerminal {
				return exitInterrupted
			}
			return exitOK
		case errors.Is(err, errWrite):
			c.errorf("%v", err)
			return exitFailure
		}
		e := parseError(err)
		if e.reason() == reasonCursorExpired {
			code := c.report("watch", err)
			c.errorf("the cursor %s is older than the events the gateway retains: the events after it were dropped. Start over with --from-start and reconcile with 'kycctl status'.", w.cursor)
			return code
		}
		if !resumable(e) || (attempt == 0 && !opened) {
			// The first connection failing is a wrong address or a gateway not running,
			// better said at once than retried silently.
			code := c.report("watch", err)
			if e.code() == codes.Unavailable {
				c.errorf("is the gateway running at %s? ('make run' starts the sandbox gateway)", c.g.addr)
			}
			return code
		}
		if w.cursor == "" {
			if id := e.info.GetMetadata()["last_event_id"]; id != "" {
				w.cursor = id
			} else if !warned {
				warned = true
				c.errorf("warning: no event was printed yet, so events during the interruption cannot be resumed; --from-start or --after avoids this")
			}
		}
		if w.printed {
			delay = minBackoff
		}
		wait := jitter(delay)
		from := "after event " + w.cursor
		switch w.cursor {
		case "":
			from = "with new events"
		case "0":
			from = "from the start"
		}
		c.errorf("stream interrupted (%s: %s); resuming %s in %v", e.codeName(), e.st.Message(), from, wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			continue // the switch above reports why
		case <-time.After(wait):
		}
		delay = min(2*delay, maxBackoff)
	}
}

// errWrite is stdout failing, which no reconnection can cure.
var errWrite = errors.New("writing output")

// follow runs one stream until it fails. done reports that --until-terminal is satisfied;
// opened, that the gateway was reached (the stream was created).
func (w *watcher) follow(ctx context.Context) (done, opened bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the call on the server too
	w.printed = false
	stream, err := w.client.StreamEvents(ctx, &kycv1.StreamEventsRequest{
		AfterEventId:   w.cursor,
		VerificationId: w.o.verification,
		Provider:       w.o.provider,
		ProgramId:      w.o.program,
		Statuses:       w.o.statuses,
	})
	if err != nil {
		return false, false, err
	}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			// The gateway ends streams only with an error; an orderly end without one is an
			// interruption all the same (a proxy in between, say).
			err = status.Error(codes.Unavailable, "the stream ended without an error")
		}
		if err != nil {
			return false, true, err
		}
		ev := resp.GetEvent()
		if err := w.print(ev); err != nil {
			return false, true, fmt.Errorf("%w: %v", errWrite, err)
		}
		w.cursor, w.printed = ev.GetEventId(), true
		if w.o.untilTerminal && ev.GetVerificationId() == w.o.verification && terminal(ev.GetStatus()) {
			return true, true, nil
		}
	}
}

func (w *watcher) print(ev *kycv1.Event) error {
	if w.c.json() {
		return writeJSON(w.c.stdout, ev)
	}
	_, err := io.WriteString(w.c.stdout, eventLine(ev)+"\n")
	return err
}

// resumable reports whether a stream's end is an interruption to resume from: a broken
// connection, a gateway shutting down or briefly without its store (UNAVAILABLE), or a stream
// ended for falling behind.
func resumable(e apiError) bool {
	switch e.code() {
	case codes.Unavailable:
		return true
	case codes.ResourceExhausted:
		return e.reason() == reasonSubscriberTooSlow
	}
	return false
}

// jitter spreads reconnections of many watchers over ±20% of d.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
