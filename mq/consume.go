package mq

import (
	"context"
	"errors"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Delivery is one message taken from this node's queue.
type Delivery struct {
	EventID     string            // the publisher's event id (AMQP message id)
	RoutingKey  string            // RouteAll, RouteNode(this node) or RoutePeers(a peer)
	Headers     map[string]string // string headers as published; nil when none
	Body        []byte            // owned by the handler
	Redelivered bool              // the broker delivered it before, unacknowledged
}

// maxAckBatch bounds how many handled deliveries share one acknowledgement.
// Acks are flushed as soon as no further delivery is waiting.
const maxAckBatch = 64

// Consume starts delivering messages from this node's queue to handle on one
// goroutine, one at a time in arrival order. A delivery is acknowledged after
// handle returns nil; on an error it is logged and requeued, to come back
// with Redelivered set, after a pause that grows with consecutive failures
// from ReconnectMin to ReconnectMax so that a message that always fails does
// not spin. The consumer is re-established after every
// reconnection until Close, which cancels handle's context and waits for it
// to return. Consume may be called once per link.
func (l *Link) Consume(handle func(context.Context, Delivery) error) error {
	if handle == nil {
		return errors.New("mq: Consume: nil handler")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.ctx.Err() != nil:
		return ErrClosed
	case l.consumed != nil:
		return errors.New("mq: Consume: already consuming")
	}
	l.consumed = make(chan struct{})
	go l.consumeLoop(handle, l.consumed)
	return nil
}

func (l *Link) consumeLoop(handle func(context.Context, Delivery) error, done chan struct{}) {
	defer close(done)
	var prev *session
	for {
		s := l.nextSession(prev)
		if s == nil {
			return
		}
		prev = s
		err := l.consumeOn(s, handle)
		if l.ctx.Err() != nil {
			return
		}
		s.fail(fmt.Errorf("consumer: %w", err))
	}
}

// nextSession waits for a live session other than prev; nil once closed.
func (l *Link) nextSession(prev *session) *session {
	for {
		l.mu.Lock()
		cur, changed := l.cur, l.changed
		l.mu.Unlock()
		if cur != nil && cur != prev {
			return cur
		}
		select {
		case <-changed:
		case <-l.ctx.Done():
			return nil
		}
	}
}

// consumeOn runs the consumer on s until its channel closes (an error) or
// the link is closed (nil).
func (l *Link) consumeOn(s *session, handle func(context.Context, Delivery) error) error {
	ch, err := s.conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	if err := ch.Qos(l.opts.Prefetch, 0, false); err != nil {
		return fmt.Errorf("set prefetch: %w", err)
	}
	deliveries, err := ch.Consume(l.queue, l.opts.Node, false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("consume %s: %w", l.queue, err)
	}
	batch := min(maxAckBatch, max(1, l.opts.Prefetch/4))
	var lastTag uint64
	unacked, failures := 0, 0
	flush := func() {
		if unacked == 0 {
			return
		}
		if err := ch.Ack(lastTag, true); err != nil {
			// The channel is going away; the broker will redeliver.
			l.log.Debug("mq ack failed", "queue", l.queue, "err", err)
		}
		unacked = 0
	}
	for {
		var d amqp.Delivery
		var ok bool
		select {
		case d, ok = <-deliveries:
		default:
			flush()
			select {
			case d, ok = <-deliveries:
			case <-l.ctx.Done():
				return nil
			}
		}
		if !ok {
			return errors.New("delivery stream ended")
		}
		l.opts.Hooks.delivered(d.Redelivered)
		if err := handle(l.ctx, toDelivery(&d)); err != nil {
			flush()
			if l.ctx.Err() == nil {
				l.log.Error("mq handler failed, message requeued",
					"queue", l.queue, "event_id", d.MessageId, "routing_key", d.RoutingKey, "err", err)
			}
			l.pause(backoff(failures, l.opts.ReconnectMin, l.opts.ReconnectMax))
			failures++
			if err := ch.Nack(d.DeliveryTag, false, true); err != nil {
				l.log.Debug("mq nack failed", "queue", l.queue, "err", err)
			}
		} else {
			failures = 0
			lastTag = d.DeliveryTag
			unacked++
			if unacked >= batch {
				flush()
			}
		}
		if l.ctx.Err() != nil {
			flush()
			return nil
		}
	}
}

// pause waits for d or until the link is closed.
func (l *Link) pause(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-l.ctx.Done():
	}
}

func toDelivery(d *amqp.Delivery) Delivery {
	var h map[string]string
	if len(d.Headers) > 0 {
		h = make(map[string]string, len(d.Headers))
		for k, v := range d.Headers {
			switch v := v.(type) {
			case string:
				h[k] = v
			case []byte:
				h[k] = string(v)
			default:
				h[k] = fmt.Sprint(v)
			}
		}
	}
	return Delivery{
		EventID:     d.MessageId,
		RoutingKey:  d.RoutingKey,
		Headers:     h,
		Body:        d.Body,
		Redelivered: d.Redelivered,
	}
}
