package mq

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

const (
	connectTimeout = 10 * time.Second // TCP connect plus AMQP handshake
	closeTimeout   = 2 * time.Second  // graceful connection.close before the socket is cut
	confirmBuffer  = 4096             // confirmations buffered between the reader and confirmLoop
)

// session is one AMQP connection with its publishing channel. A session is
// replaced, never repaired: any failure kills it and the link dials anew.
type session struct {
	conn *amqp.Connection
	raw  net.Conn // the socket under conn, cut on failure
	pub  *amqp.Channel

	next uint64 // last delivery tag handed out on pub; guarded by Link.pubMu

	pmu     sync.Mutex
	pending map[uint64]*outMsg // sent on pub, not yet confirmed; guarded by pmu

	confirmsDone chan struct{} // closed once confirmLoop has seen the last confirmation
	dead         chan struct{} // closed by fail
	failOnce     sync.Once
	err          error // why the session died; set before dead is closed
}

// nodeTakenError reports that the lock queue is held by another connection.
type nodeTakenError struct{ node, cluster string }

func (e *nodeTakenError) Error() string {
	return fmt.Sprintf("mq: node name %s is already running in cluster %s", e.node, e.cluster)
}

func (e *nodeTakenError) Is(target error) bool { return target == ErrNodeNameTaken }

// connect dials the broker, takes the node lock, declares the topology and
// opens the publishing channel in confirm mode.
func (l *Link) connect(ctx context.Context) (*session, error) {
	var raw net.Conn
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(l.queue)
	conn, err := amqp.DialConfig(l.opts.URL, amqp.Config{
		Locale:     "en_US",
		Properties: props,
		Dial: func(network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: connectTimeout}
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			// Cleared by the client once the handshake is done.
			deadline := time.Now().Add(connectTimeout)
			if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
				deadline = dl
			}
			if err := c.SetDeadline(deadline); err != nil {
				c.Close()
				return nil, err
			}
			raw = c
			return c, nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("mq: connect to %s: %w", l.where, err)
	}
	s := &session{
		conn:         conn,
		raw:          raw,
		pending:      make(map[uint64]*outMsg),
		confirmsDone: make(chan struct{}),
		dead:         make(chan struct{}),
	}
	if err := l.declare(conn); err != nil {
		s.cut()
		return nil, err
	}
	if s.pub, err = conn.Channel(); err == nil {
		err = s.pub.Confirm(false)
	}
	if err != nil {
		s.cut()
		return nil, fmt.Errorf("mq: open publishing channel on %s: %w", l.where, err)
	}
	confirms := s.pub.NotifyPublish(make(chan amqp.Confirmation, confirmBuffer))
	go s.confirmLoop(confirms, &l.opts.Hooks)
	l.watch(s)
	return s, nil
}

// declare takes the lock queue, then declares the exchange and the node
// queue with its bindings.
func (l *Link) declare(conn *amqp.Connection) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("mq: open channel on %s: %w", l.where, err)
	}
	defer ch.Close()
	if _, err := ch.QueueDeclare(l.lock, false, true, true, false, nil); err != nil {
		var ae *amqp.Error
		if errors.As(err, &ae) && ae.Code == amqp.ResourceLocked {
			return &nodeTakenError{node: l.opts.Node, cluster: l.opts.Cluster}
		}
		return fmt.Errorf("mq: declare lock queue %s: %w", l.lock, err)
	}
	if err := ch.ExchangeDeclare(l.exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		return fmt.Errorf("mq: declare exchange %s: %w", l.exchange, err)
	}
	if _, err := ch.QueueDeclare(l.queue, true, false, false, false, nil); err != nil {
		return fmt.Errorf("mq: declare queue %s: %w", l.queue, err)
	}
	// RouteAll stays bound for nodes of earlier versions, which broadcast
	// with it.
	keys := []string{RouteAll, RouteNode(l.opts.Node)}
	for _, p := range l.opts.Peers {
		if p != l.opts.Node {
			keys = append(keys, RoutePeers(p))
		}
	}
	for _, key := range keys {
		if err := ch.QueueBind(l.queue, key, l.exchange, false, nil); err != nil {
			return fmt.Errorf("mq: bind queue %s to %s with %q: %w", l.queue, l.exchange, key, err)
		}
	}
	return nil
}

// watch fails the session when the connection or the publishing channel
// closes, and logs flow control by the broker.
func (l *Link) watch(s *session) {
	connClosed := s.conn.NotifyClose(make(chan *amqp.Error, 1))
	pubClosed := s.pub.NotifyClose(make(chan *amqp.Error, 1))
	blocked := s.conn.NotifyBlocked(make(chan amqp.Blocking, 1))
	go func() {
		select {
		case e := <-connClosed:
			s.fail(closeCause("connection", e))
		case e := <-pubClosed:
			s.fail(closeCause("publishing channel", e))
		}
	}()
	go func() {
		// The client sends these synchronously: drain until the connection ends.
		for b := range blocked {
			if b.Active {
				l.log.Warn("mq broker is blocking publishes", "broker", l.where, "reason", b.Reason)
			} else {
				l.log.Info("mq broker unblocked publishes", "broker", l.where)
			}
		}
	}()
}

func closeCause(what string, e *amqp.Error) error {
	if e == nil {
		return fmt.Errorf("%s closed", what)
	}
	return fmt.Errorf("%s closed: %w", what, e)
}

// confirmLoop matches confirmations to pending messages. The client expands
// multiple acks into one in-order Confirmation per delivery tag.
func (s *session) confirmLoop(confirms <-chan amqp.Confirmation, h *Hooks) {
	defer close(s.confirmsDone)
	for c := range confirms {
		s.pmu.Lock()
		m := s.pending[c.DeliveryTag]
		delete(s.pending, c.DeliveryTag)
		s.pmu.Unlock()
		if m == nil {
			continue
		}
		if c.Ack {
			h.confirmed(time.Since(m.start))
			m.done <- nil
		} else {
			h.nacked()
			m.done <- ErrNacked
		}
	}
}

// fail marks the session dead and tears it down; the first cause wins.
func (s *session) fail(err error) {
	s.failOnce.Do(func() {
		s.err = err
		close(s.dead)
		go s.cut()
	})
}

// cut closes the connection politely, and the socket regardless after
// closeTimeout.
func (s *session) cut() {
	t := time.AfterFunc(closeTimeout, func() { s.raw.Close() })
	defer t.Stop()
	_ = s.conn.CloseDeadline(time.Now().Add(closeTimeout))
	_ = s.raw.Close()
}

// unconfirmed waits until no more confirmations can arrive and returns the
// messages still pending in publishing order. The session must be dead and
// detached from the link.
func (s *session) unconfirmed() []*outMsg {
	<-s.confirmsDone
	s.pmu.Lock()
	defer s.pmu.Unlock()
	tags := make([]uint64, 0, len(s.pending))
	for tag := range s.pending {
		tags = append(tags, tag)
	}
	slices.Sort(tags)
	out := make([]*outMsg, 0, len(tags))
	for _, tag := range tags {
		out = append(out, s.pending[tag])
	}
	return out
}
