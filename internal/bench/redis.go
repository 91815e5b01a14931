package bench

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
	"time"
)

// errNoRedis means redis-server is not on PATH: the Redis rows are skipped, never faked.
var errNoRedis = errors.New("redis-server not found on PATH (Debian/Ubuntu: apt-get install -y redis-server)")

// redisServer is a private redis-server: a free 127.0.0.1 port, nothing kept on disk, killed
// at the end. It is the same process internal/store/redistest starts for tests, without a
// testing.TB.
type redisServer struct {
	addr string
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

func startRedis() (*redisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errNoRedis
	}
	dir, err := os.MkdirTemp("", "kycbench-redis-")
	if err != nil {
		return nil, err
	}
	var lastErr error
	// A free port can be taken between probing and binding: try a few.
	for range 5 {
		r, err := tryRedis(bin, dir)
		if err == nil {
			return r, nil
		}
		lastErr = err
	}
	os.RemoveAll(dir)
	return nil, fmt.Errorf("starting redis-server: %w", lastErr)
}

func tryRedis(bin, dir string) (*redisServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	logPath := filepath.Join(dir, "redis.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := &redisServer{addr: "127.0.0.1:" + strconv.Itoa(port), dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(r.done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !pingRedis(r.addr) {
		select {
		case <-r.done:
			b, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("redis-server exited during start: %s", strings.TrimSpace(string(b)))
		default:
		}
		if time.Now().After(deadline) {
			r.kill()
			return nil, fmt.Errorf("redis-server on %s did not answer PING", r.addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return r, nil
}

// kill stops the process and waits for it; the data directory stays (stop removes it).
func (r *redisServer) kill() {
	_ = r.cmd.Process.Kill()
	<-r.done
}

func (r *redisServer) stop() {
	r.kill()
	os.RemoveAll(r.dir)
}

// pingRedis reports whether addr answers PING with PONG (not LOADING).
func pingRedis(addr string) bool {
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
