package mq

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// DeleteCluster deletes the broker objects of cluster under prefix: the
// exchange and, for each of nodes, the node queue and the lock queue. Objects
// that are gone already are not an error, nor is a lock queue that a running
// node still holds; every other failure is returned, after the remaining
// objects have been tried.
//
// The objects outlive the nodes: run it once the nodes of a cluster have
// stopped for good, for example after turning scaling off, so that their
// queues stop collecting messages. Messages still in the node queues are
// lost. Tests run it to clean up after themselves.
func DeleteCluster(ctx context.Context, url, prefix, cluster string, nodes []string) error {
	where, err := brokerAddr(url)
	if err != nil {
		return err
	}
	var raw net.Conn
	conn, err := amqp.DialConfig(url, amqp.Config{
		Locale: "en_US",
		Dial: func(network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: connectTimeout}
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			// Bounds the handshake; the client clears it once connected.
			if err := c.SetDeadline(time.Now().Add(connectTimeout)); err != nil {
				c.Close()
				return nil, err
			}
			raw = c
			return c, nil
		},
	})
	if err != nil {
		return fmt.Errorf("mq: connect to %s: %w", where, err)
	}
	defer conn.Close()
	// The client's calls take no context: cutting the socket ends them.
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()

	var errs []error
	// Each deletion runs on its own channel, because an error closes the
	// channel it happens on.
	del := func(what string, f func(ch *amqp.Channel) error) {
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("mq: delete %s on %s: %w", what, where, err))
			return
		}
		ch, err := conn.Channel()
		if err == nil {
			defer ch.Close()
			err = f(ch)
		}
		var ae *amqp.Error
		if err == nil || errors.As(err, &ae) && (ae.Code == amqp.NotFound || ae.Code == amqp.ResourceLocked) {
			return // deleted, gone already, or a lock its node still holds
		}
		errs = append(errs, fmt.Errorf("mq: delete %s on %s: %w", what, where, err))
	}
	for _, node := range nodes {
		for _, q := range []string{queueName(prefix, cluster, node), lockName(prefix, cluster, node)} {
			del("queue "+q, func(ch *amqp.Channel) error {
				_, err := ch.QueueDelete(q, false, false, false)
				return err
			})
		}
	}
	x := exchangeName(prefix, cluster)
	del("exchange "+x, func(ch *amqp.Channel) error { return ch.ExchangeDelete(x, false, false) })
	return errors.Join(errs...)
}
