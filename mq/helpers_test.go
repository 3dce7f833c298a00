package mq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// testURL is the broker the tests use; MQ_TEST_URL overrides it.
func testURL() string {
	if u := os.Getenv("MQ_TEST_URL"); u != "" {
		return u
	}
	return "amqp://guest:guest@127.0.0.1:5672/"
}

var (
	brokerOnce sync.Once
	brokerErr  error
)

// needBroker skips the test when RabbitMQ is unreachable, or fails it when
// CI=true.
func needBroker(tb testing.TB) {
	tb.Helper()
	brokerOnce.Do(func() {
		c, err := amqp.DialConfig(testURL(), amqp.Config{Dial: amqp.DefaultDial(2 * time.Second)})
		if err != nil {
			brokerErr = err
			return
		}
		c.Close()
	})
	if brokerErr == nil {
		return
	}
	addr, _ := brokerAddr(testURL())
	if os.Getenv("CI") == "true" {
		tb.Fatalf("RabbitMQ is not reachable at %s: %v", addr, brokerErr)
	}
	tb.Skipf("RabbitMQ is not reachable at %s (set MQ_TEST_URL): %v", addr, brokerErr)
}

// testCluster is a cluster under a random prefix whose objects are deleted
// when the test ends.
type testCluster struct {
	tb      testing.TB
	prefix  string
	cluster string
	mu      sync.Mutex
	nodes   map[string]bool
}

func newTestCluster(tb testing.TB) *testCluster {
	tb.Helper()
	needBroker(tb)
	var b [4]byte
	_, _ = rand.Read(b[:])
	c := &testCluster{tb: tb, prefix: "t" + hex.EncodeToString(b[:]), cluster: "c", nodes: map[string]bool{}}
	tb.Cleanup(c.cleanup)
	return c
}

func (c *testCluster) options(node string) Options {
	return Options{
		URL:          testURL(),
		Prefix:       c.prefix,
		Cluster:      c.cluster,
		Node:         node,
		Logger:       slog.New(slog.NewTextHandler(c.tb.Output(), nil)),
		ReconnectMin: 20 * time.Millisecond,
		ReconnectMax: 500 * time.Millisecond,
	}
}

// dial opens a link for node, closed when the test ends.
func (c *testCluster) dial(node string, adjust ...func(*Options)) *Link {
	c.tb.Helper()
	opts := c.options(node)
	for _, f := range adjust {
		f(&opts)
	}
	c.mu.Lock()
	c.nodes[node] = true
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := Dial(ctx, opts)
	if err != nil {
		c.tb.Fatalf("Dial %s: %v", node, err)
	}
	c.tb.Cleanup(func() { l.Close() })
	return l
}

// cleanup deletes the cluster's queues and exchange over its own connection.
func (c *testCluster) cleanup() {
	conn, err := amqp.Dial(testURL())
	if err != nil {
		c.tb.Errorf("cleanup: %v", err)
		return
	}
	defer conn.Close()
	do := func(f func(ch *amqp.Channel) error) {
		ch, err := conn.Channel()
		if err != nil {
			c.tb.Errorf("cleanup: %v", err)
			return
		}
		defer ch.Close()
		if err := f(ch); err != nil {
			c.tb.Errorf("cleanup: %v", err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for node := range c.nodes {
		do(func(ch *amqp.Channel) error {
			_, err := ch.QueueDelete(queueName(c.prefix, c.cluster, node), false, false, false)
			return err
		})
	}
	do(func(ch *amqp.Channel) error {
		return ch.ExchangeDelete(exchangeName(c.prefix, c.cluster), false, false)
	})
}

// conn returns the link's current AMQP connection, nil while down.
func (l *Link) conn() *amqp.Connection {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur == nil {
		return nil
	}
	return l.cur.conn
}

// breakConn cuts the link's socket, as a network failure would.
func (l *Link) breakConn() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur == nil {
		return false
	}
	l.cur.raw.Close()
	return true
}

// waitFor polls f until it returns nil or timeout passes.
func waitFor(tb testing.TB, timeout, every time.Duration, f func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after %v: %v", timeout, err)
		}
		time.Sleep(every)
	}
}

// recorder is a Consume handler that keeps what it receives.
type recorder struct {
	mu   sync.Mutex
	got  []Delivery
	byID map[string]int
	// fail, when set, is consulted first; a non-nil result is returned
	// without recording.
	fail func(Delivery) error
}

func newRecorder() *recorder { return &recorder{byID: map[string]int{}} }

func (r *recorder) handle(_ context.Context, d Delivery) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		if err := r.fail(d); err != nil {
			return err
		}
	}
	r.got = append(r.got, d)
	r.byID[d.EventID]++
	return nil
}

func (r *recorder) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byID[id]
}

func (r *recorder) has(id string) error {
	if r.count(id) == 0 {
		return fmt.Errorf("event %s not received", id)
	}
	return nil
}

func (r *recorder) deliveries() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivery(nil), r.got...)
}
