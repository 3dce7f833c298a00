package testservices

import (
	"context"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/chatnode/chatnode/mq"
)

// Where RabbitMQ is: loopback, with the default guest account and vhost.
const (
	MQHost = "127.0.0.1"
	MQPort = 5672
	MQURL  = "amqp://guest:guest@127.0.0.1:5672/"
)

var rabbitProbe probe

// NeedRabbitMQ skips the test (see Missing) when RabbitMQ is not reachable
// at MQURL.
func NeedRabbitMQ(tb testing.TB) {
	tb.Helper()
	err := rabbitProbe.do(func() error {
		c, err := amqp.DialConfig(MQURL, amqp.Config{Dial: amqp.DefaultDial(3 * time.Second)})
		if err != nil {
			return err
		}
		return c.Close()
	})
	if err != nil {
		Missing(tb, "RabbitMQ is not reachable at %s:%d: %v", MQHost, MQPort, err)
	}
}

// DeleteCluster deletes the exchange and the node and lock queues of
// cluster under prefix at MQURL (see mq.DeleteCluster), and reports a
// failure as an error of the test.
func DeleteCluster(tb testing.TB, prefix, cluster string, nodes []string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := mq.DeleteCluster(ctx, MQURL, prefix, cluster, nodes); err != nil {
		tb.Errorf("delete RabbitMQ objects of %s.%s: %v", prefix, cluster, err)
	}
}
