package observetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"
)

// Where the services are. PostgreSQL's admin DSN can be overridden, as in
// the store tests.
const (
	mqHost      = "127.0.0.1"
	mqPort      = 5672
	mqURL       = "amqp://guest:guest@127.0.0.1:5672/"
	postgresEnv = "CHATNODE_TEST_POSTGRES_DSN"
	adminDSN    = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
)

// missing skips the test, or fails it under CI=true, because a service it
// needs is not there.
func missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s (CI=true: a missing service is a failure)", msg)
	}
	tb.Skip(msg)
}

// probe runs check once per process and remembers its error.
type probe struct {
	once sync.Once
	err  error
}

func (p *probe) do(check func() error) error {
	p.once.Do(func() { p.err = check() })
	return p.err
}

var rabbitProbe, postgresProbe probe

// needRabbitMQ skips the test when RabbitMQ is not reachable on loopback.
func needRabbitMQ(tb testing.TB) {
	tb.Helper()
	err := rabbitProbe.do(func() error {
		c, err := amqp.DialConfig(mqURL, amqp.Config{Dial: amqp.DefaultDial(3 * time.Second)})
		if err != nil {
			return err
		}
		return c.Close()
	})
	if err != nil {
		missing(tb, "RabbitMQ is not reachable at %s:%d: %v", mqHost, mqPort, err)
	}
}

// postgresAdmin returns the DSN tests create their databases from, skipping
// the test when PostgreSQL is not reachable.
func postgresAdmin(tb testing.TB) string {
	tb.Helper()
	dsn := adminDSN
	if v := os.Getenv(postgresEnv); v != "" {
		dsn = v
	}
	err := postgresProbe.do(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	})
	if err != nil {
		missing(tb, "PostgreSQL is not reachable (set %s): %v", postgresEnv, err)
	}
	return dsn
}

// newDatabase creates an empty database for tb and drops it when tb ends,
// ending its connections first. It returns the database's DSN.
func newDatabase(tb testing.TB) string {
	tb.Helper()
	admin := postgresAdmin(tb)
	name := "chatnode_obs_" + randomHex(6)
	exec := func(sql string, args ...any) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		_, err = conn.Exec(ctx, sql, args...)
		return err
	}
	if err := exec("CREATE DATABASE " + name); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		err := exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name)
		if err == nil {
			err = exec("DROP DATABASE IF EXISTS " + name)
		}
		if err != nil {
			tb.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		tb.Fatalf("admin DSN: %v", err)
	}
	u.Path = "/" + name
	q := u.Query()
	if q.Get("sslmode") == "" {
		q.Set("sslmode", "disable")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// deleteBrokerObjects deletes the exchange and the node and lock queues of
// cluster under prefix.
func deleteBrokerObjects(tb testing.TB, prefix, cluster string, nodes []string) {
	tb.Helper()
	conn, err := amqp.DialConfig(mqURL, amqp.Config{Dial: amqp.DefaultDial(5 * time.Second)})
	if err != nil {
		tb.Errorf("delete RabbitMQ objects of %s.%s: %v", prefix, cluster, err)
		return
	}
	defer conn.Close()
	// Each deletion on its own channel: an error closes the channel.
	do := func(what string, f func(ch *amqp.Channel) error) {
		ch, err := conn.Channel()
		if err != nil {
			tb.Errorf("delete %s: %v", what, err)
			return
		}
		defer ch.Close()
		if err := f(ch); err != nil {
			var ae *amqp.Error
			if errors.As(err, &ae) && (ae.Code == amqp.NotFound || ae.Code == amqp.ResourceLocked) {
				return // gone already, or an exclusive lock its owner still holds
			}
			tb.Errorf("delete %s: %v", what, err)
		}
	}
	base := prefix + "." + cluster
	for _, n := range nodes {
		for _, q := range []string{base + ".node." + n, base + ".lock." + n} {
			do("queue "+q, func(ch *amqp.Channel) error { _, err := ch.QueueDelete(q, false, false, false); return err })
		}
	}
	do("exchange "+base+".x", func(ch *amqp.Channel) error { return ch.ExchangeDelete(base+".x", false, false) })
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
