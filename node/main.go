package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/chatnode/chatnode/actors"
	"github.com/chatnode/chatnode/config"
	"github.com/chatnode/chatnode/server"
	"github.com/chatnode/chatnode/store"
	"github.com/chatnode/chatnode/telemetry"
)

// Main is one running node.
type Main struct {
	Config *config.Config
	Logger *slog.Logger

	store     store.Store
	writer    *store.Writer
	cluster   *clusterLink
	metrics   *telemetry.Metrics
	tracing   *telemetry.Tracing
	hub       *actors.Hub
	srv       *server.Server
	ln        net.Listener
	served    chan error
	stopPurge chan struct{}
	started   time.Time
}

// commitInterval spaces the store's commits under load. Each commit of a
// standalone node ends in an fdatasync, and at full load without spacing
// the writer made about 1,700 of them a second, each costing processor
// time in the node and in the kernel's journalling threads beside it; two
// milliseconds apart they are about 350 a second, and the node delivered
// 25-65% more messages at a lower p99 (interleaved 12 s runs). A commit
// after a quiet spell is not delayed, and a PostgreSQL commit takes longer
// than the interval, so the cluster's writer is not held back.
const commitInterval = 2 * time.Millisecond

// NewMain returns a Main for cfg that logs to w in the configured format.
func NewMain(cfg *config.Config, w io.Writer) *Main {
	return &Main{Config: cfg, Logger: NewLogger(cfg, w)}
}

// NewLogger returns the node's logger: text or JSON on w at the configured
// level.
func NewLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Run opens the store, restores state, starts the actors and begins
// serving. It returns once the node listens, or with the first error.
func (m *Main) Run(ctx context.Context) (err error) {
	cfg := m.Config
	m.started = time.Now()
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	m.store, err = store.Open(ctx, cfg.Store, cfg.DataDir, cfg.DBDSN, m.Logger)
	if err != nil {
		return err
	}
	m.metrics = telemetry.NewMetrics(nodeName(cfg), string(cfg.Mode))
	if j, ok := m.store.(*store.Journaled); ok {
		m.metrics.RegisterJournal(j.Stats)
	}
	m.tracing, err = telemetry.NewTracing(ctx, telemetry.TracingOptions{
		Endpoint: cfg.OTLPEndpoint, SampleRatio: cfg.TraceSampleRatio,
		NodeName: nodeName(cfg), Role: string(cfg.Mode),
	})
	if err != nil {
		return fmt.Errorf("otlp_endpoint %q: %w", cfg.OTLPEndpoint, err)
	}
	// Actors are created until the hub stops: they read these, not m's
	// fields, which Close clears.
	metrics, tracing := m.metrics, m.tracing
	m.writer = store.NewWriter(m.store, store.WriterOptions{Logger: m.Logger, OnBatch: metrics.StoreBatch, CommitInterval: commitInterval})
	var clusterOpts *actors.ClusterOptions
	if cfg.Mode != config.ModeStandalone {
		m.cluster, err = dialCluster(ctx, cfg, m.Logger, m.metrics.MQHooks())
		if err != nil {
			return err
		}
		clusterOpts = m.cluster.options(cfg)
	}
	m.hub = actors.New(actors.Options{
		Cluster:               clusterOpts,
		Logger:                m.Logger,
		Accounts:              cfg.Accounts,
		Store:                 m.store,
		Writer:                m.writer,
		ManualAssignment:      cfg.AssignmentMode == "manual",
		AssignTick:            cfg.AssignTick,
		ChatInactivityTimeout: disabledIfZero(cfg.ChatInactivityTimeout),
		VisitorIdleTimeout:    cfg.VisitorIdleTimeout,
		MaxMessageLength:      cfg.MaxMessageLength,
		FeedSize:              cfg.FeedSize,
		AuthSecret:            authSecret(cfg),
		QueueViewSize:         cfg.QueueViewSize,
		Tracing:               m.tracing,
		Metrics:               m.metrics,
		ActorSystemMetrics:    cfg.ActorSystemMetrics,
		PropsOptions: func(kind string) []actor.PropsOption {
			return append(metrics.PropsOptions(kind), tracing.PropsOptions()...)
		},
	})
	if err := m.hub.Start(ctx); err != nil {
		return err
	}
	if m.cluster != nil {
		if err := m.cluster.consume(m.hub); err != nil {
			return fmt.Errorf("consume cluster messages: %w", err)
		}
	}
	m.ln, err = net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	m.srv = server.New(server.Options{
		Backend:         m.hub,
		Logger:          m.Logger,
		Health:          m.health,
		TLSCertFile:     cfg.TLSCertFile,
		TLSKeyFile:      cfg.TLSKeyFile,
		MaxBodyBytes:    cfg.MaxBodyBytes,
		LongPollTimeout: cfg.LongPollTimeout,
		WSPingInterval:  cfg.WSPingInterval,
		WSSendQueue:     cfg.WSSendQueue,
		RateLimit:       cfg.RateLimit,
		RateBurst:       cfg.RateBurst,
		ClientIPHeader:  cfg.RealIPHeader,
		Metrics:         m.metrics.Write,
		Observe:         m.observe,
	})
	srv := m.srv
	m.metrics.RegisterSessions(func() (int64, int64, int64) {
		st := srv.Stats()
		return st.WSVisitor, st.WSOperator, st.LongPolls
	})
	m.served = make(chan error, 1)
	go func() { m.served <- m.srv.Serve(m.ln) }()
	m.startPurge()
	m.Logger.Info("chatnode started", "mode", modeName(cfg), "node", nodeName(cfg), "role", string(cfg.Mode),
		"listen", m.Addr(), "tls", cfg.TLSCertFile != "", "store", cfg.Store)
	return nil
}

// Addr is the address the node listens on ("" before Run).
func (m *Main) Addr() string {
	if m.ln == nil {
		return ""
	}
	return m.ln.Addr().String()
}

// Served yields the server's result when it stops serving.
func (m *Main) Served() <-chan error { return m.served }

// Close stops serving, answers held requests, stops the actors and flushes
// and closes the store.
func (m *Main) Close() error {
	var errs []error
	if m.stopPurge != nil {
		close(m.stopPurge)
		m.stopPurge = nil
	}
	if m.hub != nil {
		m.hub.Release() // held long polls end now, not at their timeout
	}
	if m.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		errs = append(errs, m.srv.Shutdown(ctx))
		cancel()
		m.srv = nil
	}
	if m.hub != nil {
		m.hub.Stop()
		m.hub = nil
	}
	if m.cluster != nil {
		m.cluster.flush(2 * time.Second)
		errs = append(errs, m.cluster.close())
		m.cluster = nil
	}
	if m.tracing != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, m.tracing.Shutdown(ctx))
		cancel()
		m.tracing = nil
	}
	if m.writer != nil {
		errs = append(errs, m.writer.Close())
		m.writer = nil
	}
	if m.store != nil {
		errs = append(errs, m.store.Close())
		m.store = nil
	}
	return errors.Join(errs...)
}

// observe starts a request's span (continuing a W3C traceparent) and
// records its route, status and duration.
func (m *Main) observe(route string, header func(string) string) (func(context.Context) context.Context, func(int)) {
	start := time.Now()
	var span trace.Span
	attach := func(c context.Context) context.Context { return c }
	if t := m.tracing; t != nil && t.Enabled() {
		var reqCtx context.Context
		reqCtx, span = t.StartSpan(t.Extract(map[string]string{
			"traceparent": header("traceparent"), "tracestate": header("tracestate"),
		}), "HTTP "+route)
		sc := trace.SpanContextFromContext(reqCtx)
		attach = func(c context.Context) context.Context { return trace.ContextWithSpanContext(c, sc) }
	}
	metrics := m.metrics
	return attach, func(status int) {
		if span != nil {
			span.SetAttributes(attribute.Int("http.response.status_code", status))
			span.End()
		}
		metrics.HTTPRequest(route, status, time.Since(start))
	}
}

// health is GET /health.
func (m *Main) health() (int, []byte) {
	cfg := m.Config
	status, code := "ok", http.StatusOK
	storeState := "ok"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if st := m.store; st == nil || st.Ping(ctx) != nil {
		storeState, status, code = "unavailable", "degraded", http.StatusServiceUnavailable
	}
	h := map[string]any{
		"node":    nodeName(cfg),
		"role":    string(cfg.Mode),
		"mode":    modeName(cfg),
		"store":   storeState,
		"uptimeS": int64(time.Since(m.started).Seconds()),
	}
	if m.cluster != nil && m.hub != nil {
		link := "up"
		if !m.cluster.link.Up() {
			link, status, code = "down", "degraded", http.StatusServiceUnavailable
		}
		ch := m.hub.ClusterHealth()
		h["cluster"] = cfg.Cluster.Name
		h["mq"] = link
		h["peers"] = ch.Peers
		h["masterUp"] = ch.MasterUp
		if !ch.MasterUp {
			// Existing chats go on; nothing new is assigned.
			status, code = "degraded", http.StatusServiceUnavailable
			h["reason"] = "master unreachable: no new assignments"
		}
	}
	h["status"] = status
	body, _ := json.Marshal(h)
	return code, body
}

func modeName(cfg *config.Config) string {
	if cfg.Mode == config.ModeStandalone {
		return "standalone"
	}
	return "cluster"
}

func nodeName(cfg *config.Config) string {
	if cfg.NodeName != "" {
		return cfg.NodeName
	}
	return "standalone"
}

func disabledIfZero(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// authSecret is the key that signs operator tokens: derived from the
// configuration when set so that every node of a cluster accepts the same
// tokens, random otherwise.
func authSecret(cfg *config.Config) []byte {
	if cfg.AuthSecret == "" {
		return nil
	}
	return []byte(cfg.AuthSecret)
}

// startPurge deletes closed chats older than retention_days once an hour.
func (m *Main) startPurge() {
	days := m.Config.RetentionDays
	if days <= 0 {
		return
	}
	stop := make(chan struct{})
	m.stopPurge = stop
	st, log := m.store, m.Logger
	purge := func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		n, err := st.PurgeClosed(ctx, time.Now().AddDate(0, 0, -days))
		if err != nil {
			log.Error("purging closed chats failed", "err", err)
		} else if n > 0 {
			log.Info("purged closed chats", "count", n, "retention_days", days)
		}
	}
	go func() {
		purge()
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				purge()
			case <-stop:
				return
			}
		}
	}()
}
