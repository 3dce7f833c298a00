package clustertest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chatnode/chatnode/internal/testservices"
	"github.com/chatnode/chatnode/internal/testutil"
)

// cluster is a master/slave cluster of chatnode processes under test, with
// its own database and RabbitMQ objects.
type cluster struct {
	tb     testing.TB
	bin    string
	dir    string
	name   string // cluster_name
	prefix string // mq_node_id_prefix
	ini    string // main.ini
	json   string // the cluster configuration
	tls    *tlsFiles
}

// clusterOptions change how the nodes are configured.
type clusterOptions struct {
	// TLS makes the nodes serve HTTPS with a self-signed certificate.
	TLS bool
}

// newCluster writes the configuration of a two-node cluster (master and
// slave) with a fresh database and RabbitMQ names. Nodes start with start.
func newCluster(tb testing.TB, opts clusterOptions) *cluster {
	tb.Helper()
	testservices.NeedRabbitMQ(tb)
	testservices.PostgresAdmin(tb)
	c := &cluster{
		tb:     tb,
		bin:    chatnodeBinary(tb),
		dir:    tb.TempDir(),
		name:   "c" + testservices.RandomHex(4),
		prefix: "t" + testservices.RandomHex(4),
	}
	dsn := testservices.NewDatabase(tb, "chatnode_cl_")
	// Registered after the database, so it runs before the drop; nodes are
	// registered later still, so they stop first.
	tb.Cleanup(func() { testservices.DeleteCluster(tb, c.prefix, c.name, []string{"master", "slave"}) })
	keys := []string{
		"data_dir = " + filepath.Join(c.dir, "data"),
		"db_dsn = " + dsn,
		"auth_secret = cluster-test-" + testservices.RandomHex(12),
		fmt.Sprintf("mq_host = %s", testservices.MQHost),
		fmt.Sprintf("mq_port = %d", testservices.MQPort),
		"mq_username = guest",
		"mq_password = guest",
		"mq_virtual_host = /",
		"mq_node_id_prefix = " + c.prefix,
		"long_poll_timeout = 2s",
		"assign_tick = 50ms",
		"rate_limit = 1000",
		"rate_burst = 2000",
	}
	if opts.TLS {
		c.tls = newTLSFiles(tb, c.dir)
		keys = append(keys, "tls_cert_file = "+c.tls.cert, "tls_key_file = "+c.tls.key)
	}
	c.ini = filepath.Join(c.dir, "main.ini")
	writeFile(tb, c.ini, strings.Join(keys, "\n")+"\n")
	c.json = filepath.Join(c.dir, "cluster.json")
	writeFile(tb, c.json, fmt.Sprintf(`{"cluster_name": %q, "chat_server_node_names": ["master", "slave"], "chat_server_master_node_name": "master"}`+"\n", c.name))
	return c
}

func writeFile(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// node is one chatnode process.
type node struct {
	*endpoint
	name, role string
	addr       string // host:port, once started
	cmd        *exec.Cmd
	stderr     testservices.SyncBuffer // the node's log
	stdout     testservices.SyncBuffer // nothing, normally
	exited     chan struct{}
	waitErr    error // set before exited closes
}

// spawn starts a node process without waiting for it to serve. It is
// stopped when the test ends, and its log is shown if the test failed.
func (c *cluster) spawn(name, role string) *node {
	return c.spawnArgs(name, role, "--cluster_config", c.json, "--node_name", name, "--multinode_mode", role)
}

// spawnArgs starts a node process with the cluster's main.ini and args.
func (c *cluster) spawnArgs(name, role string, args ...string) *node {
	tb := c.tb
	tb.Helper()
	n := &node{name: name, role: role, exited: make(chan struct{})}
	n.cmd = exec.Command(c.bin, append([]string{"--config", c.ini, "--port", "0"}, args...)...)
	n.cmd.Dir = c.dir
	n.cmd.Stdout, n.cmd.Stderr = &n.stdout, &n.stderr
	setDeathSignal(n.cmd)
	if err := n.cmd.Start(); err != nil {
		tb.Fatalf("start node %s: %v", name, err)
	}
	go func() {
		n.waitErr = n.cmd.Wait()
		close(n.exited)
	}()
	tb.Cleanup(func() {
		n.stop(tb)
		log := n.stderr.String()
		if strings.Contains(log, "WARNING: DATA RACE") {
			tb.Errorf("node %s reported a data race", name)
		}
		if tb.Failed() {
			tb.Logf("node %s (%s) log:\n%s%s", name, role, log, n.stdout.String())
		}
	})
	return n
}

var startedLine = regexp.MustCompile(`msg="chatnode started" .*listen=(\S+)`)

// start starts a node and waits until it serves.
func (c *cluster) start(name, role string) *node {
	c.tb.Helper()
	return c.serving(c.spawn(name, role))
}

// startStandalone starts one node without the scaling flags on the
// cluster's configuration (its database): scaling turned off.
func (c *cluster) startStandalone() *node {
	c.tb.Helper()
	return c.serving(c.spawnArgs("standalone", "standalone"))
}

// serving waits until n serves.
func (c *cluster) serving(n *node) *node {
	tb, name := c.tb, n.name
	tb.Helper()
	testutil.WaitFor(tb, startTimeout, func() error {
		if n.hasExited() {
			tb.Fatalf("node %s exited before serving: %v\n%s", name, n.waitErr, n.stderr.String())
		}
		m := startedLine.FindStringSubmatch(n.stderr.String())
		if m == nil {
			return fmt.Errorf("node %s has not logged its start", name)
		}
		n.addr = m[1]
		return nil
	})
	n.endpoint = c.endpoint(n.addr)
	return n
}

// startPair starts the master and the slave and waits until each reports
// the other up.
func (c *cluster) startPair() (master, slave *node) {
	c.tb.Helper()
	master = c.start("master", "master")
	slave = c.start("slave", "slave")
	testutil.WaitFor(c.tb, waitTimeout, func() error {
		if err := master.healthy(); err != nil {
			return err
		}
		return slave.healthy()
	})
	return master, slave
}

func (n *node) hasExited() bool {
	select {
	case <-n.exited:
		return true
	default:
		return false
	}
}

// waitExit waits up to d for the process to end and returns its exit code.
func (n *node) waitExit(tb testing.TB, d time.Duration) int {
	tb.Helper()
	select {
	case <-n.exited:
	case <-time.After(d):
		tb.Fatalf("node %s still runs after %v", n.name, d)
	}
	var ee *exec.ExitError
	if errors.As(n.waitErr, &ee) {
		return ee.ExitCode()
	}
	if n.waitErr != nil {
		tb.Fatalf("node %s: %v", n.name, n.waitErr)
	}
	return 0
}

// kill ends the process with SIGKILL and waits for it.
func (n *node) kill(tb testing.TB) {
	tb.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil && !n.hasExited() {
		tb.Fatalf("kill node %s: %v", n.name, err)
	}
	n.waitExit(tb, 10*time.Second)
}

// stop ends the process with SIGTERM, or SIGKILL if it does not stop in
// time.
func (n *node) stop(tb testing.TB) {
	if n.hasExited() {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(20 * time.Second):
		tb.Errorf("node %s did not stop within 20s of SIGTERM; killing it", n.name)
		_ = n.cmd.Process.Kill()
		<-n.exited
	}
}

// health is GET /health's answer.
type health struct {
	Code     int             `json:"-"`
	Node     string          `json:"node"`
	Role     string          `json:"role"`
	Mode     string          `json:"mode"`
	Status   string          `json:"status"`
	MQ       string          `json:"mq"`
	Peers    map[string]bool `json:"peers"`
	MasterUp bool            `json:"masterUp"`
}

func (h health) String() string {
	return fmt.Sprintf("%d status=%s mq=%s peers=%v masterUp=%v", h.Code, h.Status, h.MQ, h.Peers, h.MasterUp)
}

func (n *node) health() (health, error) {
	a, err := n.do(http.MethodGet, "/health", nil)
	if err != nil {
		return health{}, err
	}
	var h health
	if err := json.Unmarshal(a.Body, &h); err != nil {
		return health{}, fmt.Errorf("node %s: /health: %v: %s", n.name, err, a.Body)
	}
	h.Code = a.Status
	return h, nil
}

// healthy reports an error unless the node answers /health with 200, ok,
// its RabbitMQ link up and every peer up.
func (n *node) healthy() error {
	h, err := n.health()
	if err != nil {
		return err
	}
	if h.Code != http.StatusOK || h.Status != "ok" || h.MQ != "up" || !h.MasterUp {
		return fmt.Errorf("node %s: health %v", n.name, h)
	}
	for peer, up := range h.Peers {
		if !up {
			return fmt.Errorf("node %s: peer %s is down: %v", n.name, peer, h)
		}
	}
	return nil
}
