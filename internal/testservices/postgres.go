package testservices

import (
	"context"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgreSQL's admin DSN; the environment variable overrides the default,
// as in the store tests.
const (
	postgresEnv     = "CHATNODE_TEST_POSTGRES_DSN"
	defaultAdminDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
)

var postgresProbe probe

// PostgresAdmin returns the DSN tests create their databases from: the
// environment's CHATNODE_TEST_POSTGRES_DSN, or postgres@127.0.0.1:5432/test
// without it. It skips the test (see Missing) when PostgreSQL is not
// reachable.
func PostgresAdmin(tb testing.TB) string {
	tb.Helper()
	dsn := defaultAdminDSN
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
		Missing(tb, "PostgreSQL is not reachable (set %s): %v", postgresEnv, err)
	}
	return dsn
}

// NewDatabase creates an empty database named prefix followed by random hex digits,
// and returns its DSN. When tb ends it ends the database's connections and
// drops it. prefix must be usable as the start of an unquoted SQL name,
// such as "chatnode_obs_".
func NewDatabase(tb testing.TB, prefix string) string {
	tb.Helper()
	admin := PostgresAdmin(tb)
	name := prefix + RandomHex(6)
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
