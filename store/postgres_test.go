package store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chatnode/chatnode/store"
	"github.com/chatnode/chatnode/store/storetest"
)

// postgresEnv names a DSN of a database the tests may create databases
// from. By default they try the local server as postgres, then as root.
const postgresEnv = "CHATNODE_TEST_POSTGRES_DSN"

var (
	adminOnce sync.Once
	adminDSN  string
	adminErr  error
)

// postgresAdmin returns the DSN of the database tests create their own
// databases from. It skips the test when PostgreSQL is unreachable, unless
// CI=true, where it fails.
func postgresAdmin(tb testing.TB) string {
	tb.Helper()
	adminOnce.Do(func() {
		candidates := []string{
			"postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
			"postgres://root@127.0.0.1:5432/test?sslmode=disable",
		}
		if dsn := os.Getenv(postgresEnv); dsn != "" {
			candidates = []string{dsn}
		}
		for _, dsn := range candidates {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			conn, err := pgx.Connect(ctx, dsn)
			cancel()
			if err == nil {
				conn.Close(context.Background())
				adminDSN, adminErr = dsn, nil
				return
			}
			adminErr = err
		}
	})
	if adminErr != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("PostgreSQL is not reachable (set %s): %v", postgresEnv, adminErr)
		}
		tb.Skipf("PostgreSQL is not reachable, skipping (set %s): %v", postgresEnv, adminErr)
	}
	return adminDSN
}

// newPostgresDB creates an empty database for tb, drops it when tb ends,
// and returns its DSN.
func newPostgresDB(tb testing.TB) string {
	tb.Helper()
	admin := postgresAdmin(tb)
	var b [6]byte
	rand.Read(b[:])
	name := "chatnode_storetest_" + hex.EncodeToString(b[:])
	exec := func(sql string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec("CREATE DATABASE " + name); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		if err := exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			tb.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		tb.Fatalf("%s must be a postgres:// URL: %v", postgresEnv, err)
	}
	u.Path = "/" + name
	return u.String()
}

// mustOpenPostgres opens a store on a new database and closes it when tb
// ends, before the database is dropped.
func mustOpenPostgres(tb testing.TB) *store.Postgres {
	tb.Helper()
	dsn := newPostgresDB(tb)
	s, err := store.OpenPostgres(context.Background(), dsn)
	if err != nil {
		tb.Fatalf("OpenPostgres: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestPostgres(t *testing.T) {
	postgresAdmin(t) // skip once, not in every subtest
	storetest.Run(t, func(t *testing.T) store.Store { return mustOpenPostgres(t) })
}

func TestPostgresUnreachable(t *testing.T) {
	for _, dsn := range []string{
		"postgres://postgres:s3cr3t-pw@127.0.0.1:1/test?sslmode=disable",
		"host=127.0.0.1 port=1 user=postgres password=s3cr3t-pw dbname=test sslmode=disable",
		"host=127.0.0.1 port=1 user=postgres password='s3cr3t-pw' dbname=test sslmode=disable",
	} {
		start := time.Now()
		_, err := store.OpenPostgres(t.Context(), dsn)
		if err == nil {
			t.Fatalf("OpenPostgres(%s) succeeded", dsn)
		}
		msg := err.Error()
		if !strings.Contains(msg, "db_dsn") || !strings.Contains(msg, "unreachable") || !strings.Contains(msg, "127.0.0.1:1") {
			t.Errorf("error %q should name db_dsn, say unreachable and give the address", msg)
		}
		if strings.Contains(msg, "s3cr3t-pw") {
			t.Errorf("error %q shows the password", msg)
		}
		if d := time.Since(start); d > store.PostgresConnectTimeout+2*time.Second {
			t.Errorf("failing took %v", d)
		}
	}
}

func TestPostgresMissingDatabase(t *testing.T) {
	u, _ := url.Parse(postgresAdmin(t))
	u.User = url.UserPassword(u.User.Username(), "s3cr3t-pw") // trust auth ignores it
	u.Path = "/chatnode_no_such_database"
	_, err := store.OpenPostgres(t.Context(), u.String())
	if err == nil || !strings.Contains(err.Error(), "db_dsn") || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("OpenPostgres(missing database) = %v; want an error naming db_dsn and the missing database", err)
	}
	if strings.Contains(err.Error(), "s3cr3t-pw") {
		t.Errorf("error %q shows the password", err)
	}
}

func TestPostgresInvalidDSN(t *testing.T) {
	_, err := store.OpenPostgres(t.Context(), "postgres://postgres:s3cr3t-pw@127.0.0.1:notaport/test")
	if err == nil || !strings.Contains(err.Error(), "db_dsn") || !strings.Contains(err.Error(), "invalid") {
		t.Fatalf("OpenPostgres(bad port) = %v; want an error naming db_dsn", err)
	}
	if strings.Contains(err.Error(), "s3cr3t-pw") {
		t.Errorf("error %q shows the password", err)
	}
	if _, err := store.OpenPostgres(t.Context(), ""); err == nil || !strings.Contains(err.Error(), "db_dsn") {
		t.Fatalf("OpenPostgres(\"\") = %v", err)
	}
}

func TestPostgresConcurrentOpenMigratesOnce(t *testing.T) {
	dsn := newPostgresDB(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			s, err := store.OpenPostgres(t.Context(), dsn)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("concurrent OpenPostgres: %v", err)
		}
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	want, err := fs.Glob(os.DirFS("migrations/postgres"), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil || n != len(want) {
		t.Fatalf("schema_migrations rows = %d, %v; want %d", n, err, len(want))
	}
}

func TestRedactDSN(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:pw@h:5432/db?sslmode=disable":     "postgres://u:xxxxx@h:5432/db?sslmode=disable",
		"postgresql://u@h/db?password=pw":               "postgresql://u@h/db?password=xxxxx",
		"postgres://u@h/db":                             "postgres://u@h/db",
		"host=h user=u password=pw dbname=db":           "host=h user=u password=xxxxx dbname=db",
		"host=h password = 'p w\\'x' dbname=db":         "host=h password = xxxxx dbname=db",
		"host=h user=u dbname=db":                       "host=h user=u dbname=db",
		"host=h PASSWORD=pw":                            "host=h PASSWORD=xxxxx",
		"postgres://u:p%40ss@h/db":                      "postgres://u:xxxxx@h/db",
		"postgres://u:pw@h:notaport/db":                 "postgres://u:xxxxx@h:notaport/db",
		"host=h password='' dbname=db":                  "host=h password=xxxxx dbname=db",
		"postgres://u:pw@h/db?sslmode=disable&x=y&z=pw": "postgres://u:xxxxx@h/db?sslmode=disable&x=y&z=pw",
	} {
		if got := store.RedactDSN(in); got != want {
			t.Errorf("RedactDSN(%q) = %q, want %q", in, got, want)
		}
	}
}
