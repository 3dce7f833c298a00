package node_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatnode/chatnode/config"
	"github.com/chatnode/chatnode/internal/testutil"
	"github.com/chatnode/chatnode/node"
)

// TestCloseEndsHeldLongPolls: a node stopping while long polls are held
// answers them at once and closes cleanly, instead of waiting out the
// long-poll period.
func TestCloseEndsHeldLongPolls(t *testing.T) {
	dir := t.TempDir()
	path := writeINI(t, dir, testKeys(filepath.Join(dir, "data")), "long_poll_timeout", "5m")
	cfg, _, err := config.Load([]string{"--port", "0", "--config", path})
	if err != nil {
		t.Fatal(err)
	}
	var log syncBuffer
	m := node.NewMain(cfg, &log)
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := newTestNode(m.Addr(), "")
	v := n.newVisitor(t)
	answered := make(chan answer, 1)
	go func() {
		a, _ := n.request("GET", "/l/v/m/delta?"+v.auth("since", "0").Encode(), "")
		answered <- a
	}()
	// The first poll with since=0 answers at once with the full state; hold a
	// second one from the current revision.
	first := <-answered
	u := decodeUpdate(t, first)
	go func() {
		a, _ := n.request("GET", "/l/v/m/delta?"+v.auth("since", strconv.FormatInt(u.Revision, 10)).Encode(), "")
		answered <- a
	}()
	testutil.WaitFor(t, 5*time.Second, func() error { return pollHeld(n) })
	if err := m.Close(); err != nil {
		t.Fatalf("close: %v\n%s", err, log.String())
	}
	select {
	case <-answered:
	case <-time.After(10 * time.Second):
		t.Fatal("the held long poll was not answered when the node stopped")
	}
}

// pollHeld reports nil once the node holds a long poll.
func pollHeld(n *testNode) error {
	a, err := n.request("GET", "/metrics", "")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(a.Body), "\n") {
		if strings.HasPrefix(line, "chatnode_long_polls{") && !strings.HasSuffix(line, " 0") {
			return nil
		}
	}
	return fmt.Errorf("no long poll held yet")
}
