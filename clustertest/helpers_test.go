package clustertest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/chatnode/chatnode/internal/testservices"
)

// Timeouts of the eventual conditions. Nodes built with the race detector
// start and answer slower, so these are generous; a passing test waits only
// as long as it needs.
const (
	waitTimeout  = 20 * time.Second
	startTimeout = 60 * time.Second
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

// needNginx returns the nginx binary, skipping the test when there is none.
func needNginx(tb testing.TB) string {
	tb.Helper()
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	testservices.Missing(tb, "nginx is not installed (apt-get install nginx-light)")
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
	testservices.Missing(tb, "RabbitMQ's rabbitmqctl is not installed")
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
