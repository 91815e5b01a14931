package bench

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// restClient drives the REST port the way HTTP load generators (wrk, h2load) do: each worker
// has its own keep-alive HTTP/1.1 connection, writes its request on it and reads the response
// back itself. Responses are parsed by net/http (http.ReadResponse).
//
// The harness used net/http's Client at first. Its Transport hands every request to a writer
// goroutine and the response back from a reader goroutine, and on 2 cores shared with the
// server that costs as much CPU as the server's whole HTTP side: 5.3 s against 6.0 s in a
// profile of REST Start replays. The REST rows then measured the client as much as the
// gateway. The gRPC rows use grpc-go's generated client, which has no leaner alternative.
type restClient struct {
	addr    string // host:port, also sent as Host
	auth    string // the Authorization header's value
	timeout time.Duration

	mu    sync.Mutex
	conns []*restConn // by worker; nil until the worker's first request or after an error
}

type restConn struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

func newRESTClient(addr, auth string) *restClient {
	return &restClient{addr: addr, auth: auth, timeout: 30 * time.Second}
}

// do sends one request on worker's connection and returns the status and body. body "" sends
// no body. Any error closes the connection; the worker's next request dials a new one.
func (rc *restClient) do(worker int, method, path, body string) (int, []byte, error) {
	c, err := rc.conn(worker)
	if err != nil {
		return 0, nil, err
	}
	code, b, keep, err := c.roundTrip(rc, method, path, body)
	if err != nil || !keep {
		c.c.Close()
		rc.set(worker, nil)
	}
	return code, b, err
}

func (c *restConn) roundTrip(rc *restClient, method, path, body string) (code int, b []byte, keep bool, err error) {
	if err := c.c.SetDeadline(time.Now().Add(rc.timeout)); err != nil {
		return 0, nil, false, err
	}
	w := c.bw
	w.WriteString(method)
	w.WriteByte(' ')
	w.WriteString(path)
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(rc.addr)
	w.WriteString("\r\nAuthorization: ")
	w.WriteString(rc.auth)
	if body != "" {
		w.WriteString("\r\nContent-Type: application/json\r\nContent-Length: ")
		w.WriteString(strconv.Itoa(len(body)))
	}
	w.WriteString("\r\n\r\n")
	w.WriteString(body)
	if err := w.Flush(); err != nil {
		return 0, nil, false, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return 0, nil, false, err
	}
	b, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, nil, false, err
	}
	return resp.StatusCode, b, !resp.Close, nil
}

func (rc *restClient) conn(worker int) (*restConn, error) {
	rc.mu.Lock()
	var c *restConn
	if worker < len(rc.conns) {
		c = rc.conns[worker]
	}
	rc.mu.Unlock()
	if c != nil {
		return c, nil
	}
	nc, err := net.DialTimeout("tcp", rc.addr, rc.timeout)
	if err != nil {
		return nil, fmt.Errorf("dialing the REST port: %w", err)
	}
	c = &restConn{c: nc, br: bufio.NewReader(nc), bw: bufio.NewWriter(nc)}
	rc.set(worker, c)
	return c, nil
}

func (rc *restClient) set(worker int, c *restConn) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for len(rc.conns) <= worker {
		rc.conns = append(rc.conns, nil)
	}
	rc.conns[worker] = c
}

// close closes every connection.
func (rc *restClient) close() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for i, c := range rc.conns {
		if c != nil {
			c.c.Close()
			rc.conns[i] = nil
		}
	}
}
