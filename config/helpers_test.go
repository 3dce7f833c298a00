package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// seedCluster is the cluster description of the Webim scaling scheme.
const seedCluster = `{
  "cluster_name": "default",
  "chat_server_node_names": ["master", "slave"],
  "chat_server_master_node_name": "master"
}
`

// mqINI holds every mq_* key a cluster node needs.
const mqINI = `mq_host = 127.0.0.1
mq_port = 5672
mq_username = guest
mq_password = guest
mq_virtual_host = /
db_dsn = postgres://postgres@127.0.0.1:5432/chatnode
`

// loc is where a problem points: the base name of its file (or FlagFile),
// its line and its key.
type loc struct {
	file string
	line int
	key  string
}

func locsOf(ps Problems) []loc {
	out := make([]loc, len(ps))
	for i, p := range ps {
		file := p.File
		if file != FlagFile && file != "" {
			file = filepath.Base(file)
		}
		out[i] = loc{file, p.Line, p.Key}
	}
	return out
}

// wantLocs fails t unless ps point exactly at want, in order.
func wantLocs(t *testing.T, ps Problems, want ...loc) {
	t.Helper()
	if got := locsOf(ps); !slices.Equal(got, want) {
		t.Fatalf("problems point at\n  %v\nwant\n  %v\nproblems:\n%s", got, want, ps.Error())
	}
}

// writeFile writes content to dir/name, creating directories, and returns
// the path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// mustLoad runs Load and fails t on any error.
func mustLoad(t *testing.T, args ...string) *Config {
	t.Helper()
	cfg, _, err := Load(args)
	if err != nil {
		t.Fatalf("Load(%q): %v", args, err)
	}
	return cfg
}

// loadProblems runs Load, which must fail with Problems, and returns them.
func loadProblems(t *testing.T, args ...string) Problems {
	t.Helper()
	cfg, _, err := Load(args)
	if err == nil {
		t.Fatalf("Load(%q) succeeded, want problems", args)
	}
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Load(%q) error %T is not Problems: %v", args, err, err)
	}
	if cfg != nil {
		t.Fatalf("Load(%q) returned a config with problems", args)
	}
	return ps
}

// iniProblems writes main.ini with content and returns Load's problems.
func iniProblems(t *testing.T, content string) Problems {
	t.Helper()
	path := writeFile(t, t.TempDir(), "main.ini", content)
	return loadProblems(t, "--config", path)
}

// expand replaces $DIR in args with dir.
func expand(args []string, dir string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = strings.ReplaceAll(a, "$DIR", dir)
	}
	return out
}
