package clustertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"
)

// Timeouts of the eventual conditions. Nodes built with the race detector
// start and answer slower, so these are generous; a passing test waits only
// as long as it needs.
const (
	waitTimeout  = 20 * time.Second
	startTimeout = 60 * time.Second
)

// Where the services are. PostgreSQL's admin DSN can be overridden, as in the
// store tests.
const (
	mqHost      = "127.0.0.1"
	mqPort      = 5672
	mqURL       = "amqp://guest:guest@127.0.0.1:5672/"
	postgresEnv = "CHATNODE_TEST_POSTGRES_DSN"
	adminDSN    = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
)

// binDir holds the chatnode binary built for this run.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "chatnode-clustertest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "clustertest:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

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

// needNginx returns the nginx binary, skipping the test when there is none.
func needNginx(tb testing.TB) string {
	tb.Helper()
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	missing(tb, "nginx is not installed (apt-get install nginx-light)")
	return ""
}

// needRabbitmqctl returns the rabbitmqctl binary, skipping the test when
// there is none.
func needRabbitmqctl(tb testing.TB) string {
	tb.Helper()
	if p, err := exec.LookPath("rabbitmqctl"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/rabbitmqctl"); err == nil {
		return "/usr/sbin/rabbitmqctl"
	}
	missing(tb, "RabbitMQ's rabbitmqctl is not installed")
	return ""
}

// repoRoot is the module's root directory.
func repoRoot(tb testing.TB) string {
	tb.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		tb.Fatalf("module root not found above the test directory: %v", err)
	}
	return root
}

var build struct {
	once sync.Once
	path string
	err  error
}

// raceEnabled reports whether this test binary runs with the race detector;
// the nodes are then built with it too.
func raceEnabled() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// chatnodeBinary builds cmd/chatnode once per run and returns its path.
func chatnodeBinary(tb testing.TB) string {
	tb.Helper()
	root := repoRoot(tb)
	build.once.Do(func() {
		goCmd, err := exec.LookPath("go")
		if err != nil {
			goCmd = "/usr/local/go/bin/go"
		}
		path := filepath.Join(binDir, "chatnode")
		args := []string{"build", "-o", path}
		if raceEnabled() {
			args = append(args, "-race")
		}
		cmd := exec.Command(goCmd, append(args, "./cmd/chatnode")...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			build.err = fmt.Errorf("go build ./cmd/chatnode: %v\n%s", err, out)
			return
		}
		build.path = path
	})
	if build.err != nil {
		tb.Fatal(build.err)
	}
	return build.path
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// newDatabase creates an empty database for tb and drops it when tb ends,
// ending its connections first. It returns the database's DSN.
func newDatabase(tb testing.TB) string {
	tb.Helper()
	admin := postgresAdmin(tb)
	name := "chatnode_cl_" + randomHex(6)
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

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lines returns the lines of s that contain sub.
func lines(s, sub string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return out
}
