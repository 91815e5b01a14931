package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// reply is an error reply from the server, as go-redis reports them.
type reply string

func (e reply) Error() string { return string(e) }
func (reply) RedisError()     {}

func TestRedisErrorClassification(t *testing.T) {
	live := context.Background()
	cases := []struct {
		name        string
		err         error
		unavailable bool
	}{
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, true},
		{"reset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true},
		{"timeout", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, true},
		{"eof", io.EOF, true},
		{"closed client", redis.ErrClosed, true},
		{"pool timeout", redis.ErrPoolTimeout, true},
		{"loading", reply("LOADING Redis is loading the dataset in memory"), true},
		{"readonly", reply("READONLY You can't write against a read only replica."), true},
		{"clusterdown", reply("CLUSTERDOWN The cluster is down"), true},
		{"busy script", reply("BUSY Redis is busy running a script."), true},
		{"wrongtype", reply("WRONGTYPE Operation against a key holding the wrong kind of value"), false},
		{"syntax", reply("ERR syntax error"), false},
	}
	r := &Redis{}
	for _, c := range cases {
		err := r.fail(live, "op", fmt.Errorf("wrapped: %w", c.err))
		if got := errors.Is(err, ErrUnavailable); got != c.unavailable {
			t.Errorf("%s: unavailable = %v, want %v (%v)", c.name, got, c.unavailable, err)
		}
		if !errors.Is(err, c.err) {
			t.Errorf("%s: the cause is lost: %v", c.name, err)
		}
	}

	// The caller's cancellation and deadline stay context errors, whatever the I/O error.
	cancelled, cancel := context.WithCancel(live)
	cancel()
	err := r.fail(cancelled, "op", io.EOF)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnavailable) {
		t.Errorf("cancelled: %v, want context.Canceled only", err)
	}
	expired, cancel2 := context.WithDeadline(live, time.Now().Add(-time.Second))
	defer cancel2()
	err = r.fail(expired, "op", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded})
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrUnavailable) {
		t.Errorf("expired: %v, want context.DeadlineExceeded only", err)
	}
	if r.fail(live, "op", nil) != nil {
		t.Error("nil error not kept nil")
	}
}

func TestPXMillis(t *testing.T) {
	for d, want := range map[time.Duration]int64{
		-time.Second: 0, 0: 0, time.Nanosecond: 1, time.Millisecond: 1,
		time.Millisecond + 1: 2, 150 * time.Millisecond: 150, time.Hour: 3_600_000,
	} {
		if got := pxMillis(d); got != want {
			t.Errorf("pxMillis(%v) = %d, want %d", d, got, want)
		}
	}
}

func TestIdemValue(t *testing.T) {
	for _, fp := range []string{"", "fp", "12:34", "o5:x", "\n\x00"} {
		for _, rest := range []string{"", "token", "\x00\xff:9"} {
			st, gotFP, gotRest, ok := parseIdemValue(idemValue('d', fp, rest))
			if !ok || st != 'd' || gotFP != fp || gotRest != rest {
				t.Errorf("round trip of (%q, %q): %c %q %q %v", fp, rest, st, gotFP, gotRest, ok)
			}
		}
	}
	for _, bad := range []string{"", "o", "x2:ab", "o9:ab", "o-1:ab", "oab", "d:ab"} {
		if _, _, _, ok := parseIdemValue(bad); ok {
			t.Errorf("parseIdemValue(%q) accepted", bad)
		}
	}
}
