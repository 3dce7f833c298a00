package mq

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

func TestDeleteCluster(t *testing.T) {
	c := newTestCluster(t)
	for _, node := range []string{"a", "b"} {
		if err := c.dial(node).Close(); err != nil {
			t.Fatalf("Close %s: %v", node, err)
		}
	}
	// Another connection holds the lock of node "held", as a running node
	// would.
	conn, err := amqp.Dial(testURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	held := lockName(c.prefix, c.cluster, "held")
	if _, err := ch.QueueDeclare(held, false, true, true, false, nil); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// "ghost" never ran: its queues are not there.
	if err := DeleteCluster(ctx, testURL(), c.prefix, c.cluster, []string{"a", "b", "held", "ghost"}); err != nil {
		t.Fatalf("DeleteCluster: %v", err)
	}

	exists := func(declare func(ch *amqp.Channel) error) bool {
		t.Helper()
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		defer ch.Close()
		err = declare(ch)
		var ae *amqp.Error
		if errors.As(err, &ae) && ae.Code == amqp.NotFound {
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		return true
	}
	queue := func(name string) func(ch *amqp.Channel) error {
		return func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclarePassive(name, false, false, false, false, nil)
			return err
		}
	}
	for _, q := range []string{queueName(c.prefix, c.cluster, "a"), queueName(c.prefix, c.cluster, "b")} {
		if exists(queue(q)) {
			t.Errorf("queue %s is still there", q)
		}
	}
	x := exchangeName(c.prefix, c.cluster)
	if exists(func(ch *amqp.Channel) error {
		return ch.ExchangeDeclarePassive(x, "topic", true, false, false, false, nil)
	}) {
		t.Errorf("exchange %s is still there", x)
	}
	if !exists(queue(held)) {
		t.Errorf("the held lock queue %s was deleted", held)
	}

	// Everything gone already is not an error either.
	if err := DeleteCluster(ctx, testURL(), c.prefix, c.cluster, []string{"a", "b"}); err != nil {
		t.Errorf("DeleteCluster again: %v", err)
	}
}

func TestDeleteClusterErrorHidesPassword(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := DeleteCluster(ctx, "amqp://user:s3cret@127.0.0.1:1/vh", "t", "c", []string{"a"})
	if err == nil {
		t.Fatal("DeleteCluster on a closed port succeeded")
	}
	if strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "127.0.0.1:1/vh") {
		t.Errorf("err = %q: want the broker address and no password", err)
	}
}
