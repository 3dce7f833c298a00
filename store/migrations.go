package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// migrationFiles holds the schema of each implementation as numbered SQL
// files, NNNN_what.sql, applied in order. A file is never edited once
// released; a change to the schema is a new file.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

// migration is one numbered schema step.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads the migrations of one implementation ("sqlite" or
// "postgres"), sorted by version.
func loadMigrations(impl string) ([]migration, error) {
	dir := path.Join("migrations", impl)
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	seen := map[int]string{}
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("migration %s: name is not NNNN_what.sql", name)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", other, name, v)
		}
		seen[v] = name
		b, err := fs.ReadFile(migrationFiles, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// migrator is what migrate needs from one implementation, all within one
// transaction that the caller commits.
type migrator struct {
	// exec runs a script of statements without arguments.
	exec func(ctx context.Context, script string) error
	// applied lists the versions recorded in schema_migrations, which exists.
	applied func(ctx context.Context) ([]int, error)
	// record notes a version as applied.
	record func(ctx context.Context, m migration) error
}

// migrate brings the schema up to date: it applies, in order, every
// migration whose version is not yet recorded. It refuses a database whose
// schema is newer than this program knows.
func migrate(ctx context.Context, impl string, m migrator) error {
	ms, err := loadMigrations(impl)
	if err != nil {
		return err
	}
	have, err := m.applied(ctx)
	if err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	done := make(map[int]bool, len(have))
	latest := 0
	for _, v := range have {
		done[v] = true
		latest = max(latest, v)
	}
	if known := ms[len(ms)-1].version; latest > known {
		return fmt.Errorf("database schema version %d is newer than this program supports (%d)", latest, known)
	}
	for _, mg := range ms {
		if done[mg.version] {
			continue
		}
		if err := m.exec(ctx, mg.sql); err != nil {
			return fmt.Errorf("apply migration %s: %w", mg.name, err)
		}
		if err := m.record(ctx, mg); err != nil {
			return fmt.Errorf("record migration %s: %w", mg.name, err)
		}
	}
	return nil
}
