package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"
)

// errStopped is the error of a request made after the run stopped its
// connections.
var errStopped = errors.New("the run is stopping")

// endpoint is one base URL: its HTTP clients and WebSocket dialer. Every
// connection it makes is tracked so that the run can end them all at once.
type endpoint struct {
	base    string // scheme://host[:port][/prefix], no trailing slash
	wsBase  string // ws:// or wss:// form of base
	api     *fasthttp.HostClient
	poll    *fasthttp.HostClient // long polls, which hold a connection each
	ws      *websocket.Dialer
	timeout time.Duration
}

// newEndpoint returns the endpoint of raw, a URL Options.Validate passed.
// apiConns and pollConns bound its HTTP connections; t dials requests and
// WebSockets, pt long polls.
func newEndpoint(raw string, apiConns, pollConns int, timeout time.Duration, t, pt *connTracker) (*endpoint, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	isTLS := u.Scheme == "https"
	addr := fasthttp.AddMissingPort(u.Host, isTLS)
	base := u.Scheme + "://" + u.Host + strings.TrimRight(u.Path, "/")
	ws := "ws" + strings.TrimPrefix(base, "http")
	client := func(conns int, readTimeout time.Duration, t *connTracker) *fasthttp.HostClient {
		return &fasthttp.HostClient{
			Addr:                      addr,
			Name:                      "chatload",
			IsTLS:                     isTLS,
			Dial:                      t.dial,
			MaxConns:                  conns,
			MaxConnWaitTimeout:        timeout,
			MaxIdemponentCallAttempts: 1,
			ReadTimeout:               readTimeout,
			WriteTimeout:              timeout,
			MaxIdleConnDuration:       30 * time.Second,
			ReadBufferSize:            4096,
			WriteBufferSize:           4096,
			NoDefaultUserAgentHeader:  true,
		}
	}
	return &endpoint{
		base:    base,
		wsBase:  ws,
		api:     client(apiConns, timeout, t),
		poll:    client(pollConns, 0, pt),
		timeout: timeout,
		ws: &websocket.Dialer{
			NetDialContext:   t.dialContext,
			HandshakeTimeout: timeout,
			// Frames are read in pieces; small buffers keep idle sockets
			// cheap. Writes are rare (pongs) and share pooled buffers.
			ReadBufferSize:  1024,
			WriteBufferSize: 512,
			WriteBufferPool: wsWritePool,
		},
	}, nil
}

var wsWritePool = &sync.Pool{}

// answer is an HTTP answer: status and a copy of the body.
type answer struct {
	status int
	body   []byte
}

// reason names why a call failed: the API's error code when the node sent
// one, else the HTTP status or the network failure.
func (a answer) reason() string {
	if code := errorCode(a.body); code != "" {
		return code
	}
	return "http-" + strconv.Itoa(a.status)
}

// retryable reports whether a setup call may be tried again: the node is
// rate limiting or passing through a condition it calls transient.
func (a answer) retryable() bool {
	return a.status == fasthttp.StatusTooManyRequests || a.status == fasthttp.StatusServiceUnavailable
}

// get makes a GET request to path with query q on client c, waiting at
// most timeout.
func (e *endpoint) get(c *fasthttp.HostClient, path string, q *fasthttp.Args, timeout time.Duration) (answer, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	uri := e.base + path
	if q != nil {
		uri += "?" + string(q.QueryString())
	}
	req.SetRequestURI(uri)
	return do(c, req, resp, timeout)
}

// post makes a form POST to path with body.
func (e *endpoint) post(path string, body []byte) (answer, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(e.base + path)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/x-www-form-urlencoded")
	req.SetBodyRaw(body)
	return do(e.api, req, resp, e.timeout)
}

// postArgs makes a form POST of args.
func (e *endpoint) postArgs(path string, args *fasthttp.Args) (answer, error) {
	return e.post(path, args.QueryString())
}

func do(c *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response, timeout time.Duration) (answer, error) {
	var err error
	if timeout > 0 {
		err = c.DoTimeout(req, resp, timeout)
	} else {
		err = c.Do(req, resp)
	}
	if err != nil {
		return answer{}, err
	}
	return answer{status: resp.StatusCode(), body: append([]byte(nil), resp.Body()...)}, nil
}

// dialWS opens a WebSocket to path with query q.
func (e *endpoint) dialWS(ctx context.Context, path string, q *fasthttp.Args) (*websocket.Conn, answer, error) {
	return dialWith(ctx, e.ws, e.wsBase+path+"?"+string(q.QueryString()))
}

// dialWith opens a WebSocket to url with d; a refused handshake's status
// and the start of its body are in the answer.
func dialWith(ctx context.Context, d *websocket.Dialer, url string) (*websocket.Conn, answer, error) {
	conn, resp, err := d.DialContext(ctx, url, nil)
	if err != nil {
		var a answer
		if resp != nil {
			a.status = resp.StatusCode
			if resp.Body != nil {
				a.body, _ = io.ReadAll(io.LimitReader(resp.Body, 4096))
				resp.Body.Close()
			}
		}
		return nil, a, err
	}
	return conn, answer{status: 101}, nil
}

// readFrame reads the next message of conn into *buf, which it keeps
// from frame to frame: the frame it returns is valid until the next call.
func readFrame(conn *websocket.Conn, buf *[]byte) ([]byte, error) {
	_, r, err := conn.NextReader()
	if err != nil {
		return nil, err
	}
	b := (*buf)[:0]
	if cap(b) == 0 {
		b = make([]byte, 0, 1024)
	}
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			*buf = b
			return b, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// netReason names a network failure in a few words.
func netReason(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, errStopped), errors.Is(err, context.Canceled):
		return "stopped"
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout),
		errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection-refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, fasthttp.ErrConnectionClosed),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return "connection-closed"
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return "no-free-connections"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "too-many-open-files"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no-local-port"
	case errors.Is(err, websocket.ErrBadHandshake):
		return "bad-handshake"
	}
	return "network-error"
}

// connTracker dials TCP connections and remembers them until they close,
// so that closeAll can end requests and sockets still open.
type connTracker struct {
	d      net.Dialer
	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	closed bool
}

func newConnTracker() *connTracker {
	return &connTracker{d: net.Dialer{Timeout: 5 * time.Second}, conns: make(map[*trackedConn]struct{})}
}

func (t *connTracker) dial(addr string) (net.Conn, error) {
	return t.dialContext(context.Background(), "tcp", addr)
}

func (t *connTracker) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		return nil, errStopped
	}
	c, err := t.d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, t: t}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		c.Close()
		return nil, errStopped
	}
	t.conns[tc] = struct{}{}
	t.mu.Unlock()
	return tc, nil
}

// closeAll closes every connection and refuses new ones.
func (t *connTracker) closeAll() {
	t.mu.Lock()
	t.closed = true
	conns := t.conns
	t.conns = make(map[*trackedConn]struct{})
	t.mu.Unlock()
	for c := range conns {
		c.Conn.Close()
	}
}

type trackedConn struct {
	net.Conn
	t    *connTracker
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.t.mu.Lock()
		delete(c.t.conns, c)
		c.t.mu.Unlock()
	})
	return c.Conn.Close()
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
