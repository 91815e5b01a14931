// Package redistest runs a private redis-server for tests: one process per Start, on a free
// 127.0.0.1 port, with nothing kept on disk, stopped when the test ends. Tests can Stop and
// Restart it (same port) to inject an outage.
//
// When redis-server is not on PATH the test is skipped, except in CI (CI=true), where Redis
// tests must run: there it fails.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// startTimeout bounds how long a starting server may take to answer PING.
const startTimeout = 10 * time.Second

// Server is a private redis-server process.
type Server struct {
	t    testing.TB // nil when launched outside a test
	bin  string
	dir  string
	port int

	persist bool

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	runs int
}

// Start launches a redis-server for t and stops it when t ends. It keeps nothing on disk:
// Restart comes back empty.
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, false)
}

// StartPersistent is Start with an append-only file synced on every write, as a production
// Redis keeps its data: a killed and restarted server comes back with everything it
// acknowledged, so a test sees an outage rather than a loss of data.
func StartPersistent(t testing.TB) *Server {
	t.Helper()
	return start(t, true)
}

func start(t testing.TB, persist bool) *Server {
	t.Helper()
	s, err := Launch(t.TempDir(), persist)
	switch {
	case errors.Is(err, ErrNoRedisServer):
		if os.Getenv("CI") == "true" {
			t.Fatal(err.Error() + " — Redis tests must run in CI")
		}
		t.Skip(err.Error())
	case err != nil:
		t.Fatalf("redistest: %v", err)
	}
	s.t = t
	t.Cleanup(s.Stop)
	return s
}

// ErrNoRedisServer: redis-server is not on PATH.
var ErrNoRedisServer = errors.New("redis-server not found on PATH; install it (Debian/Ubuntu: apt-get install -y redis-server; macOS: brew install redis)")

// Launch starts a redis-server outside a test (the benchmark uses it), with its files in dir.
// The caller stops it with Stop.
func Launch(dir string, persist bool) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, ErrNoRedisServer
	}
	s := &Server{bin: bin, dir: dir, persist: persist}
	// A free port can be taken by someone else between probing and binding: try a few.
	var lastErr error
	for range 5 {
		if s.port, err = freePort(); err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		if lastErr = s.start(); lastErr == nil {
			return s, nil
		}
	}
	return nil, fmt.Errorf("starting redis-server: %w", lastErr)
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Client returns a client of the server, closed when t ends.
func (s *Server) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// URL is a redis:// URL for database 0, as redis.ParseURL takes.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Stop kills the server (as a crash would) and waits for it to exit. The port is kept for
// Restart. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd, s.done = nil, nil
}

// Restart starts the server again on the same port (stopping it first if it runs) and waits
// until it answers PING. Its data is gone unless it was started with StartPersistent.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	var err error
	// The old process has exited; the port can still be briefly busy, so retry a little.
	for range 20 {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("redistest: restarting redis-server on %s: %v", s.Addr(), err)
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs++
	logPath := filepath.Join(s.dir, fmt.Sprintf("redis-%d.log", s.runs))
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	aof := []string{"--appendonly", "no"}
	if s.persist {
		aof = []string{"--appendonly", "yes", "--appendfsync", "always"}
	}
	cmd := exec.Command(s.bin, append([]string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--dir", s.dir,
	}, aof...)...)
	// An *os.File, not a buffer: exec then needs no copying goroutines.
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	logf.Close() // the child has its own descriptor
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	if err := waitPing(s.Addr(), done); err != nil {
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("%w (log: %s)", err, tail(logPath))
	}
	s.cmd, s.done = cmd, done
	return nil
}

// waitPing waits until the server at addr answers PING with PONG (not LOADING), or exits.
func waitPing(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-exited:
			return errors.New("redis-server exited during start")
		default:
		}
		if ping(addr) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server on %s did not answer PING within %v", addr, startTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// CPU reads a Redis server's CPU time so far, user and system, from the reply to INFO cpu;
// false when the reply does not hold both.
func CPU(info string) (time.Duration, bool) {
	var total float64
	found := 0
	for line := range strings.Lines(info) {
		name, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || (name != "used_cpu_user" && name != "used_cpu_sys") {
			continue
		}
		secs, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, false
		}
		total += secs
		found++
	}
	return time.Duration(total * float64(time.Second)), found == 2
}
