package mq

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Link is this node's connection to the cluster's exchange and queue. It
// reconnects by itself until Close. A Link is safe for concurrent use.
type Link struct {
	opts                  Options
	log                   *slog.Logger
	where                 string // host:port/vhost, for messages
	exchange, queue, lock string
	ctx                   context.Context // cancelled by Close; handed to the handler
	cancel                context.CancelFunc
	supervised            chan struct{} // closed when supervise returns
	closeOnce             sync.Once
	closeErr              error
	up                    atomic.Bool

	// pubMu serialises publishing: tag assignment and the write happen under
	// it, so tags follow write order. Lock order: pubMu, then mu.
	pubMu sync.Mutex
	pub   *session // accepts publishes; nil while down

	mu       sync.Mutex
	cur      *session      // the live session; nil while down
	changed  chan struct{} // closed and replaced on every up/down transition
	consumed chan struct{} // closed when the consumer goroutine ends; nil before Consume
}

// Dial connects to the broker, takes the lock on the node name, declares the
// exchange and the node queue, and starts watching the connection. ctx bounds
// this first connection, which is not retried; once Dial has returned, the
// link reconnects by itself. Dial fails with an error wrapping
// ErrNodeNameTaken when another process runs the same node in the cluster.
// Errors name the broker as host:port/vhost, never the password.
func Dial(ctx context.Context, opts Options) (*Link, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	where, err := brokerAddr(opts.URL)
	if err != nil {
		return nil, err
	}
	l := &Link{
		opts:       opts,
		log:        opts.Logger,
		where:      where,
		exchange:   exchangeName(opts.Prefix, opts.Cluster),
		queue:      queueName(opts.Prefix, opts.Cluster, opts.Node),
		lock:       lockName(opts.Prefix, opts.Cluster, opts.Node),
		supervised: make(chan struct{}),
		changed:    make(chan struct{}),
	}
	s, err := l.connect(ctx)
	if err != nil {
		return nil, err
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.setUp(s, nil)
	l.log.Info("mq link up", "broker", l.where, "queue", l.queue)
	go l.supervise(s)
	return l, nil
}

// Up reports whether the link is currently connected.
func (l *Link) Up() bool { return l.up.Load() }

// Close stops the consumer (waiting for a running handler to return),
// releases the node lock and closes the connection. Publish calls still
// waiting fail with ErrClosed. Close is idempotent.
func (l *Link) Close() error {
	l.closeOnce.Do(func() {
		l.cancel()
		<-l.supervised
		l.mu.Lock()
		consumed, s := l.consumed, l.cur
		l.mu.Unlock()
		if consumed != nil {
			<-consumed
		}
		l.detach(s)
		if s != nil {
			l.closeErr = l.release(s)
		}
		if l.up.Swap(false) {
			l.opts.Hooks.linkUp(false)
		}
		l.log.Info("mq link closed", "broker", l.where, "queue", l.queue)
	})
	return l.closeErr
}

// release deletes the lock queue and closes the connection gracefully.
func (l *Link) release(s *session) error {
	defer s.fail(ErrClosed)
	select {
	case <-s.dead:
		return nil // already gone, and the lock with it
	default:
	}
	if ch, err := s.conn.Channel(); err == nil {
		if _, err := ch.QueueDelete(l.lock, false, false, false); err != nil {
			l.log.Debug("mq delete lock queue", "queue", l.lock, "err", err)
		}
	}
	if err := s.conn.CloseDeadline(time.Now().Add(closeTimeout)); err != nil && !errors.Is(err, amqp.ErrClosed) {
		return err
	}
	return nil
}

// setUp republishes msgs on s in order, then opens s to publishers and the
// consumer.
func (l *Link) setUp(s *session, msgs []*outMsg) {
	l.pubMu.Lock()
	for _, m := range msgs {
		if !m.abandoned.Load() {
			l.sendLocked(s, m)
		}
	}
	l.up.Store(true)
	l.pub = s
	l.mu.Lock()
	l.cur = s
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
	l.pubMu.Unlock()
	l.opts.Hooks.linkUp(true)
}

// detach takes s away from publishers and the consumer.
func (l *Link) detach(s *session) {
	l.pubMu.Lock()
	if l.pub == s {
		l.pub = nil
	}
	l.mu.Lock()
	if l.cur == s {
		l.cur = nil
		close(l.changed)
		l.changed = make(chan struct{})
	}
	l.mu.Unlock()
	l.pubMu.Unlock()
}

// supervise replaces each session that dies until the link is closed.
func (l *Link) supervise(s *session) {
	defer close(l.supervised)
	for {
		select {
		case <-s.dead:
		case <-l.ctx.Done():
			return
		}
		l.up.Store(false)
		l.detach(s)
		l.opts.Hooks.linkUp(false)
		resend := s.unconfirmed()
		l.log.Warn("mq link down", "broker", l.where, "err", s.err, "unconfirmed", len(resend))
		down := time.Now()
		if s = l.reconnect(); s == nil {
			return
		}
		l.setUp(s, resend)
		l.opts.Hooks.reconnected()
		l.log.Info("mq link up", "broker", l.where, "queue", l.queue,
			"down_for", time.Since(down).Round(time.Millisecond), "republished", len(resend))
	}
}

// reconnect dials with jittered exponential back-off until it succeeds or
// the link is closed, in which case it returns nil.
func (l *Link) reconnect() *session {
	lockFailures := 0
	for attempt := 0; ; attempt++ {
		t := time.NewTimer(backoff(attempt, l.opts.ReconnectMin, l.opts.ReconnectMax))
		select {
		case <-l.ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		s, err := l.connect(l.ctx)
		if err == nil {
			if l.ctx.Err() != nil {
				_ = l.release(s)
				return nil
			}
			return s
		}
		// The broker may not yet have dropped the lock of our own dead
		// connection, so only a lock still held on the second try is news.
		if errors.Is(err, ErrNodeNameTaken) {
			if lockFailures++; lockFailures == 2 {
				l.log.Error("mq cannot take the node lock, retrying", "err", err)
				continue
			}
		}
		l.log.Debug("mq reconnect failed", "attempt", attempt+1, "err", err)
	}
}

// backoff returns the wait before reconnection attempt n (from 0): it
// doubles from lo up to hi, with the upper half of each step randomised.
func backoff(n int, lo, hi time.Duration) time.Duration {
	d := hi
	if n < 32 {
		if x := lo << n; x > 0 && x < hi {
			d = x
		}
	}
	half := d / 2
	if d-half <= 0 {
		return d
	}
	return half + rand.N(d-half)
}
