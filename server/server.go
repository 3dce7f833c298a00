package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"

	"github.com/chatnode/chatnode"
	"github.com/chatnode/chatnode/internal/workpool"
)

// Options configure a Server. Zero values take the defaults named.
type Options struct {
	// Backend answers every request; required.
	Backend Backend
	// Logger receives internal errors and lifecycle events; nil discards.
	Logger *slog.Logger
	// Health answers GET /health; nil answers 200 {"status":"ok"}.
	Health func() (status int, body []byte)
	// Metrics writes the Prometheus text exposition for GET /metrics; nil
	// answers 404.
	Metrics func(w io.Writer) error
	// TLSCertFile and TLSKeyFile, when both set, make Serve speak TLS.
	TLSCertFile, TLSKeyFile string
	// MaxBodyBytes bounds a request body and a client's WebSocket frame;
	// default 64 KiB. Bigger bodies get 413 request-entity-too-large.
	MaxBodyBytes int
	// LongPollTimeout is how long a delta request waits for news; default
	// 25 s (Webim's SDK gives up after 60 s).
	LongPollTimeout time.Duration
	// WSPingInterval is how often a WebSocket is pinged; a socket silent for
	// two intervals is closed. Default 25 s.
	WSPingInterval time.Duration
	// WSSendQueue is how many updates may wait for a slow WebSocket before it
	// is closed with 4008 slow-consumer; default 256.
	WSSendQueue int
	// RateLimit is the number of requests a second allowed per key (a
	// visitor's page, an operator's token, or the client address for init
	// and login), with bursts of RateBurst; over it a request gets 429
	// too-many-requests. Defaults 100 and 2×RateLimit; a negative RateLimit
	// turns limiting off.
	RateLimit float64
	RateBurst int
	// ClientIPHeader names a header that carries the client's address, set
	// by a trusted proxy in front (e.g. "X-Real-IP"); "" uses the peer's
	// address. Used as the rate-limit key of init and login.
	ClientIPHeader string
	// Observe, when set, is called as each request starts with its route and
	// a header reader. It returns attach, which carries the request's trace
	// into the contexts of Backend calls, and done, called with the status
	// when the answer is written (for a WebSocket, when the upgrade is). Both
	// may be nil.
	Observe func(route string, header func(name string) string) (attach func(context.Context) context.Context, done func(status int))
	// MaxConns bounds the HTTP connections served at once and, separately,
	// the open WebSockets; 0 means 262,144 of each.
	MaxConns int
}

// Defaults of Options.
const (
	DefaultMaxBodyBytes    = 64 << 10
	DefaultLongPollTimeout = 25 * time.Second
	DefaultWSPingInterval  = 25 * time.Second
	DefaultWSSendQueue     = 256
	DefaultRateLimit       = 100
	DefaultMaxConns        = 256 << 10
)

// Timeouts the server keeps to itself.
const (
	writeTimeout = 10 * time.Second // writing one answer or frame
	readTimeout  = 30 * time.Second // reading one request
	idleTimeout  = 90 * time.Second // a keep-alive connection between requests
	wsBufferSize = 4096             // WebSocket write buffer, pooled
	wsReadBuffer = 256              // WebSocket read buffer, per socket
)

// Stats are the server's live counts, for metrics.
type Stats struct {
	WSVisitor     int64 // open visitor WebSockets
	WSOperator    int64 // open operator WebSockets
	LongPolls     int64 // delta requests being held
	SlowConsumers int64 // WebSockets closed with 4008 so far
	RateLimited   int64 // requests answered 429 so far
}

// Server serves the visitor (Webim) and operator APIs over HTTP and
// WebSocket. Its methods are safe for concurrent use.
type Server struct {
	opts     Options
	log      *slog.Logger
	backend  Backend
	http     *fasthttp.Server
	upgrader websocket.Upgrader
	limiter  *limiter
	writers  *workpool.Pool // runs the sockets' writes

	ctx    context.Context // canceled by Shutdown: ends held long polls
	cancel context.CancelFunc

	mu      sync.Mutex
	sockets map[*wsConn]struct{}
	closing bool
	drained chan struct{} // closed when closing and no socket is left

	wsVisitor, wsOperator, longPolls, slowConsumers, rateLimited atomic.Int64
}

// New returns a Server for opts, with defaults filled in.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.LongPollTimeout <= 0 {
		opts.LongPollTimeout = DefaultLongPollTimeout
	}
	if opts.WSPingInterval <= 0 {
		opts.WSPingInterval = DefaultWSPingInterval
	}
	if opts.WSSendQueue <= 0 {
		opts.WSSendQueue = DefaultWSSendQueue
	}
	if opts.RateLimit == 0 {
		opts.RateLimit = DefaultRateLimit
	}
	if opts.RateBurst <= 0 {
		opts.RateBurst = int(2 * opts.RateLimit)
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	s := &Server{
		opts:    opts,
		log:     opts.Logger,
		backend: opts.Backend,
		limiter: newLimiter(opts.RateLimit, opts.RateBurst),
		sockets: make(map[*wsConn]struct{}),
		drained: make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.writers = workpool.New()
	s.http = &fasthttp.Server{
		Handler:                      s.observe,
		ErrorHandler:                 s.serveError,
		Name:                         "chatnode",
		MaxRequestBodySize:           opts.MaxBodyBytes,
		ReadBufferSize:               8 << 10,
		ReadTimeout:                  readTimeout,
		WriteTimeout:                 writeTimeout,
		IdleTimeout:                  idleTimeout,
		Concurrency:                  opts.MaxConns,
		CloseOnShutdown:              true,
		KeepHijackedConns:            true,
		NoDefaultContentType:         true,
		DisablePreParseMultipartForm: true,
		Logger:                       fasthttpLogger{opts.Logger},
	}
	s.upgrader = websocket.Upgrader{
		HandshakeTimeout: writeTimeout,
		ReadBufferSize:   wsReadBuffer,
		WriteBufferSize:  wsBufferSize,
		WriteBufferPool:  &sync.Pool{},
		// Clients authenticate with tokens in the query, never cookies, so a
		// page of any origin may open a socket.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	return s
}

// Serve accepts connections on ln until Shutdown, speaking TLS when
// Options name a certificate and key. It returns nil after Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	var err error
	if s.opts.TLSCertFile != "" && s.opts.TLSKeyFile != "" {
		err = s.http.ServeTLS(ln, s.opts.TLSCertFile, s.opts.TLSKeyFile)
	} else {
		err = s.http.Serve(ln)
	}
	if err != nil && s.ctx.Err() != nil {
		return nil // the listener was closed by Shutdown
	}
	return err
}

// Shutdown stops accepting connections, answers held long polls with {},
// closes every WebSocket with 1001 going away and waits for requests in
// flight to end, or for ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.cancel()
	s.mu.Lock()
	s.closing = true
	sockets := make([]*wsConn, 0, len(s.sockets))
	for c := range s.sockets {
		sockets = append(sockets, c)
	}
	if len(s.sockets) == 0 {
		closeOnce(s.drained)
	}
	s.mu.Unlock()
	for _, c := range sockets {
		go c.finish(websocket.CloseGoingAway, reasonGoingAway)
	}
	err := s.http.ShutdownWithContext(ctx)
	select {
	case <-s.drained:
	case <-ctx.Done():
		if err == nil {
			err = ctx.Err()
		}
	}
	return err
}

func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// Stats returns the live counts.
func (s *Server) Stats() Stats {
	return Stats{
		WSVisitor:     s.wsVisitor.Load(),
		WSOperator:    s.wsOperator.Load(),
		LongPolls:     s.longPolls.Load(),
		SlowConsumers: s.slowConsumers.Load(),
		RateLimited:   s.rateLimited.Load(),
	}
}

// register adds a socket to those Shutdown closes; false when the server is
// closing.
func (s *Server) register(c *wsConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.sockets[c] = struct{}{}
	return true
}

func (s *Server) unregister(c *wsConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sockets, c)
	if s.closing && len(s.sockets) == 0 {
		closeOnce(s.drained)
	}
}

// callContext returns the context of a Backend call for the request ctx.
// It carries the request's trace when Observe set one. It has no deadline
// of its own: a Backend bounds its calls (see Backend).
func (s *Server) callContext(ctx *fasthttp.RequestCtx) context.Context {
	if attach, ok := ctx.UserValue(traceKey).(func(context.Context) context.Context); ok {
		return attach(s.ctx)
	}
	return s.ctx
}

// traceKey is the request user value holding Observe's attach function.
const traceKey = "chatnode.trace"

// observe wraps serveHTTP with the Observe hook.
func (s *Server) observe(ctx *fasthttp.RequestCtx) {
	if s.opts.Observe == nil {
		s.serveHTTP(ctx)
		return
	}
	attach, done := s.opts.Observe(routeName(ctx.Path()), func(name string) string { return string(ctx.Request.Header.Peek(name)) })
	if attach != nil {
		ctx.SetUserValue(traceKey, attach)
	}
	s.serveHTTP(ctx)
	if done != nil {
		done(ctx.Response.StatusCode())
	}
}

// routeName is the route a path belongs to, for metrics and span names:
// one of the known paths, or "other".
func routeName(path []byte) string {
	// A map index by string(path) does not copy path; the switch it
	// replaced made a new string of every request's path.
	if name, ok := routeNames[string(path)]; ok {
		return name
	}
	return "other"
}

var routeNames = func() map[string]string {
	m := map[string]string{}
	for _, p := range []string{"/l/v/m/init", "/l/v/m/delta", "/l/v/m/action", "/l/v/m/history", "/ws/v/delta",
		"/l/o/login", "/l/o/set-status", "/l/o/action", "/l/o/delta", "/l/o/history", "/ws/o/delta",
		"/health", "/metrics"} {
		m[p] = p
	}
	return m
}()

// allow applies the rate limit to key, answering 429 when it is over.
func (s *Server) allow(ctx *fasthttp.RequestCtx, key []byte) bool {
	if s.limiter.allow(key, time.Now()) {
		return true
	}
	s.rateLimited.Add(1)
	s.writeError(ctx, errRateLimited)
	return false
}

// clientIP returns the client's address as a rate-limit key.
func (s *Server) clientIP(buf []byte, ctx *fasthttp.RequestCtx) []byte {
	buf = append(buf, "ip\x00"...)
	if s.opts.ClientIPHeader != "" {
		if v := ctx.Request.Header.Peek(s.opts.ClientIPHeader); len(v) > 0 && len(v) <= 64 {
			return append(buf, v...)
		}
	}
	return append(buf, ctx.RemoteIP()...)
}

// fasthttpLogger sends fasthttp's own messages, mostly about clients that
// misbehave or go away, to slog at debug level.
type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.log.Debug("http server", "detail", sprintf(format, args...))
}

// serveError answers a request fasthttp could not read.
func (s *Server) serveError(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		s.writeError(ctx, errTooLarge)
	case errors.As(err, &small):
		ctx.Response.Header.Set("Connection", "close")
		s.writeErrorStatus(ctx, fasthttp.StatusRequestHeaderFieldsTooLarge,
			&chatnode.Error{Code: chatnode.ETooLarge, Message: "request head too large"})
	default:
		s.writeErrorStatus(ctx, fasthttp.StatusBadRequest,
			&chatnode.Error{Code: chatnode.EWrongArgument, Message: "malformed request"})
	}
}
