package mq

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// maxBodySize keeps a single message well under the broker's default
// max_message_size (128 MiB): a message the broker refuses closes the
// channel, and would otherwise be re-published forever.
const maxBodySize = 64 << 20

// outMsg is a message on its way to a confirmation. It outlives sessions:
// when the connection dies unconfirmed, it is sent again on the next one.
type outMsg struct {
	key       string
	msg       amqp.Publishing
	start     time.Time
	done      chan error  // receives the outcome once; buffered
	abandoned atomic.Bool // the caller gave up; do not send it again
}

// Publish sends body to routingKey (RouteAll, RouteNode or RoutePeers) with
// eventID as the AMQP message id and headers as string headers, persistent,
// and returns once the broker has confirmed it.
//
// While the link is down Publish waits for it to come back, within ctx. A
// message in flight when the connection dies is sent again after
// reconnection, so receivers may see it twice. Concurrent calls share one
// channel and are in flight together. The link keeps body until the message
// is confirmed: do not modify it after the call.
//
// Errors: ctx's error (wrapped) when ctx ends first, ErrNacked when the broker
// refuses the message, ErrClosed after Close.
func (l *Link) Publish(ctx context.Context, routingKey, eventID string, headers map[string]string, body []byte) error {
	m, err := l.send(ctx, routingKey, eventID, headers, body)
	if err != nil {
		return err
	}
	return l.await(ctx, m)
}

// Pending is a message sent by PublishAsync, waiting for its confirmation.
type Pending struct {
	l *Link
	m *outMsg
}

// Wait returns once the broker has confirmed the message (nil), refused it,
// or ctx or the link ended first.
func (p Pending) Wait(ctx context.Context) error { return p.l.await(ctx, p.m) }

// PublishAsync sends like Publish but returns as soon as the message is
// written to the link, without waiting for its confirmation. Messages sent
// by successive PublishAsync calls from one goroutine reach the broker, and
// every consumer, in that order; after a reconnection unconfirmed ones are
// sent again in the same order. It waits, within ctx, only while the link
// is down.
func (l *Link) PublishAsync(ctx context.Context, routingKey, eventID string, headers map[string]string, body []byte) (Pending, error) {
	m, err := l.send(ctx, routingKey, eventID, headers, body)
	return Pending{l: l, m: m}, err
}

// send writes m on the current session, waiting for one while the link is
// down.
func (l *Link) send(ctx context.Context, routingKey, eventID string, headers map[string]string, body []byte) (*outMsg, error) {
	if err := checkPublish(routingKey, eventID, headers, body); err != nil {
		return nil, err
	}
	if l.ctx.Err() != nil {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("mq: publish %s: %w", eventID, err)
	}
	m := &outMsg{
		key:   routingKey,
		start: time.Now(),
		done:  make(chan error, 1),
		msg: amqp.Publishing{
			Headers:      toTable(headers),
			DeliveryMode: amqp.Persistent,
			MessageId:    eventID,
			Body:         body,
		},
	}
	for {
		l.pubMu.Lock()
		if s := l.pub; s != nil {
			l.sendLocked(s, m)
			l.pubMu.Unlock()
			return m, nil
		}
		l.mu.Lock()
		changed := l.changed
		l.mu.Unlock()
		l.pubMu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("mq: publish %s: waiting for the link to %s: %w", eventID, l.where, ctx.Err())
		case <-l.ctx.Done():
			return nil, ErrClosed
		}
	}
}

// await waits for m's confirmation.
func (l *Link) await(ctx context.Context, m *outMsg) error {
	eventID := m.msg.MessageId
	select {
	case err := <-m.done:
		if err != nil {
			return fmt.Errorf("mq: publish %s: %w", eventID, err)
		}
		return nil
	case <-ctx.Done():
		m.abandoned.Store(true)
		return fmt.Errorf("mq: publish %s: waiting for confirmation: %w", eventID, ctx.Err())
	case <-l.ctx.Done():
		return ErrClosed
	}
}

// sendLocked registers m under the next delivery tag of s and writes it.
// A failed write kills s; m stays pending and is sent again on the next
// session. The caller holds l.pubMu.
func (l *Link) sendLocked(s *session, m *outMsg) {
	s.next++
	s.pmu.Lock()
	s.pending[s.next] = m
	s.pmu.Unlock()
	select {
	case <-s.dead:
		return
	default:
	}
	if err := s.pub.Publish(l.exchange, m.key, false, false, m.msg); err != nil {
		s.fail(fmt.Errorf("publish: %w", err))
		return
	}
	l.opts.Hooks.published()
}

func checkPublish(routingKey, eventID string, headers map[string]string, body []byte) error {
	switch {
	case routingKey == "" || len(routingKey) > 255:
		return fmt.Errorf("mq: publish: routing key must be 1 to 255 bytes, got %d", len(routingKey))
	case eventID == "" || len(eventID) > 255:
		return fmt.Errorf("mq: publish: event id must be 1 to 255 bytes, got %d", len(eventID))
	case len(body) > maxBodySize:
		return fmt.Errorf("mq: publish %s: body of %d bytes exceeds %d", eventID, len(body), maxBodySize)
	}
	for k := range headers {
		if k == "" || len(k) > 128 {
			return errors.New("mq: publish: header names must be 1 to 128 bytes")
		}
	}
	return nil
}

func toTable(headers map[string]string) amqp.Table {
	if len(headers) == 0 {
		return nil
	}
	t := make(amqp.Table, len(headers))
	for k, v := range headers {
		t[k] = v
	}
	return t
}
