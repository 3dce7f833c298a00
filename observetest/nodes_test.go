package observetest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatnode/chatnode/config"
	"github.com/chatnode/chatnode/internal/testservices"
	"github.com/chatnode/chatnode/internal/testutil"
	"github.com/chatnode/chatnode/node"
)

// waitTimeout bounds every eventual condition. Nodes under the race
// detector are slow, so it is generous; a passing test waits only as long
// as it needs.
const waitTimeout = 30 * time.Second

// testNode is a node running in this process.
type testNode struct {
	*client
	name string
	main *node.Main
	log  *testservices.SyncBuffer

	closeOnce sync.Once
	closeErr  error
}

// close stops the node, exporting the spans it still holds; later calls
// return the first call's result.
func (n *testNode) close() error {
	n.closeOnce.Do(func() { n.closeErr = n.main.Close() })
	return n.closeErr
}

// testKeys are the main.ini keys every test node has: its own data
// directory, quick long polls and assignment, and rate limits no test
// reaches.
func testKeys(dir string) []string {
	return []string{
		"data_dir = " + filepath.Join(dir, "data"),
		"long_poll_timeout = 1s",
		"assign_tick = 50ms",
		"rate_limit = 1000",
		"rate_burst = 2000",
	}
}

// writeINI writes main.ini in dir from "key = value" lines and returns its
// path.
func writeINI(tb testing.TB, dir string, lines []string) string {
	tb.Helper()
	path := filepath.Join(dir, "main.ini")
	writeFile(tb, path, strings.Join(lines, "\n")+"\n")
	return path
}

func writeFile(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// startNode runs a node in-process with the configuration file ini and the
// extra command-line args, on a :0 port. It is closed when the test ends,
// and its log is shown if the test failed.
func startNode(tb testing.TB, name, ini string, args ...string) *testNode {
	tb.Helper()
	cfg, _, err := config.Load(append([]string{"--port", "0", "--config", ini}, args...))
	if err != nil {
		tb.Fatalf("node %s: load configuration: %v", name, err)
	}
	n := &testNode{name: name, log: &testservices.SyncBuffer{}}
	n.main = node.NewMain(cfg, n.log)
	if err := n.main.Run(context.Background()); err != nil {
		tb.Fatalf("node %s: run: %v\n%s", name, err, n.log.String())
	}
	n.client = newClient(n.main.Addr())
	tb.Cleanup(func() {
		if err := n.close(); err != nil {
			tb.Errorf("node %s: close: %v", name, err)
		}
		if tb.Failed() {
			tb.Logf("node %s log:\n%s", name, n.log.String())
		}
	})
	return n
}

// startStandalone runs a standalone node with the test keys and extra
// "key = value" lines.
func startStandalone(tb testing.TB, extra ...string) *testNode {
	tb.Helper()
	dir := tb.TempDir()
	return startNode(tb, "standalone", writeINI(tb, dir, append(testKeys(dir), extra...)))
}

// cluster is the configuration of a master/slave cluster with its own
// database and RabbitMQ names.
type cluster struct {
	tb        testing.TB
	ini, json string
	name      string // cluster_name
	prefix    string // mq_node_id_prefix
}

// newCluster writes the configuration of a two-node cluster (master and
// slave) sharing a new database; extra are further "key = value" lines of
// main.ini. Nodes start with start or startPair.
func newCluster(tb testing.TB, extra ...string) *cluster {
	tb.Helper()
	testservices.NeedRabbitMQ(tb)
	dsn := testservices.NewDatabase(tb, "chatnode_obs_")
	c := &cluster{tb: tb, name: "c" + testservices.RandomHex(4), prefix: "obs" + testservices.RandomHex(4)}
	// Registered after the database, so it runs before the drop; nodes are
	// registered later still, so they stop first.
	tb.Cleanup(func() { testservices.DeleteCluster(tb, c.prefix, c.name, []string{"master", "slave"}) })
	dir := tb.TempDir()
	keys := append(testKeys(dir),
		"db_dsn = "+dsn,
		"auth_secret = observe-test-"+testservices.RandomHex(12),
		fmt.Sprintf("mq_host = %s", testservices.MQHost),
		fmt.Sprintf("mq_port = %d", testservices.MQPort),
		"mq_username = guest",
		"mq_password = guest",
		"mq_virtual_host = /",
		"mq_node_id_prefix = "+c.prefix,
	)
	c.ini = writeINI(tb, dir, append(keys, extra...))
	c.json = filepath.Join(dir, "cluster.json")
	writeFile(tb, c.json, fmt.Sprintf(`{"cluster_name": %q, "chat_server_node_names": ["master", "slave"], "chat_server_master_node_name": "master"}`+"\n", c.name))
	return c
}

// start runs the node name in role.
func (c *cluster) start(name, role string) *testNode {
	c.tb.Helper()
	return startNode(c.tb, name, c.ini, "--cluster_config", c.json, "--node_name", name, "--multinode_mode", role)
}

// startPair runs the master and the slave and waits until each reports
// its RabbitMQ link and the other node up.
func (c *cluster) startPair() (master, slave *testNode) {
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

// healthy reports an error unless the node answers /health with 200 ok,
// with its RabbitMQ link and every peer up.
func (n *testNode) healthy() error {
	a, err := n.do(http.MethodGet, "/health", nil, nil)
	if err != nil {
		return err
	}
	var h struct {
		Status   string          `json:"status"`
		MQ       string          `json:"mq"`
		Peers    map[string]bool `json:"peers"`
		MasterUp bool            `json:"masterUp"`
	}
	if err := json.Unmarshal(a.Body, &h); err != nil {
		return fmt.Errorf("node %s: /health %s: %v", n.name, a, err)
	}
	if a.Status != http.StatusOK || h.Status != "ok" || h.MQ != "up" || !h.MasterUp {
		return fmt.Errorf("node %s: /health %s", n.name, a)
	}
	for peer, up := range h.Peers {
		if !up {
			return fmt.Errorf("node %s: peer %s is down", n.name, peer)
		}
	}
	return nil
}
