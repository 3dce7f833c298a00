package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/chatnode/chatnode/config"
	"github.com/chatnode/chatnode/internal/testutil"
	"github.com/chatnode/chatnode/node"
)

// startNode runs a standalone node in-process with operators op1…opN and
// returns its base URL.
func startNode(t *testing.T, operators, maxChats int) string {
	t.Helper()
	dir := t.TempDir()
	accounts := filepath.Join(dir, "accounts.json")
	f, err := os.Create(accounts)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteAccounts(f, AccountsOptions{Operators: operators, Prefix: "op", Password: "password", MaxChats: maxChats}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	ini := filepath.Join(dir, "main.ini")
	// A short long-poll period: the node's shutdown waits for held polls.
	conf := fmt.Sprintf("listen = 127.0.0.1:0\ndata_dir = %s\naccounts_file = %s\nauth_secret = test-secret-0123456789\n"+
		"rate_limit = 100000\nrate_burst = 100000\nlog_level = error\nlong_poll_timeout = 1s\n", filepath.Join(dir, "data"), accounts)
	if err := os.WriteFile(ini, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load([]string{"--port", "0", "--config", ini})
	if err != nil {
		t.Fatal(err)
	}
	m := node.NewMain(cfg, io.Discard)
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close node: %v", err)
		}
	})
	return "http://" + m.Addr()
}

// observer watches operators' streams on sockets of its own (an operator's
// stream is shared by all their sessions) and collects the client-side ids
// of visitor messages with a prefix: what the operators really received.
type observer struct {
	prefix string
	mu     sync.Mutex
	seen   map[string]bool
	conns  []*websocket.Conn
	wg     sync.WaitGroup
}

func observe(t *testing.T, base string, logins []string, prefix string) *observer {
	t.Helper()
	ob := &observer{prefix: prefix, seen: map[string]bool{}}
	ep, err := newEndpoint(base, 4, 1, 5*time.Second, newConnTracker(), newConnTracker())
	if err != nil {
		t.Fatal(err)
	}
	for _, login := range logins {
		a, err := ep.post("/l/o/login", []byte("login="+login+"&password=password"))
		if err != nil || a.status != 200 {
			t.Fatalf("observer login %s: %v %s", login, err, a.body)
		}
		var la loginAnswer
		if err := json.Unmarshal(a.body, &la); err != nil {
			t.Fatal(err)
		}
		conn, _, err := websocket.DefaultDialer.Dial(ep.wsBase+"/ws/o/delta?since=0&auth-token="+la.AuthToken, nil)
		if err != nil {
			t.Fatalf("observer socket: %v", err)
		}
		ob.conns = append(ob.conns, conn)
		ob.wg.Go(func() { ob.read(conn) })
	}
	t.Cleanup(ob.close)
	return ob
}

func (ob *observer) read(conn *websocket.Conn) {
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		var f frame
		if json.Unmarshal(data, &f) != nil {
			continue
		}
		var msgs []wireMessage
		for _, d := range f.DeltaList {
			switch d.ObjectType {
			case objMessage:
				var m wireMessage
				if json.Unmarshal(d.Data, &m) == nil {
					msgs = append(msgs, m)
				}
			case objChat:
				var c wireChat
				if json.Unmarshal(d.Data, &c) == nil {
					msgs = append(msgs, c.Messages...)
				}
			}
		}
		ob.mu.Lock()
		for _, m := range msgs {
			if m.Kind == kindVisitor && strings.HasPrefix(m.ClientSideID, ob.prefix) {
				ob.seen[m.ClientSideID] = true
			}
		}
		ob.mu.Unlock()
	}
}

func (ob *observer) count() int {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	return len(ob.seen)
}

func (ob *observer) close() {
	for _, c := range ob.conns {
		c.Close()
	}
	ob.wg.Wait()
}

func TestAgainstNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	for _, transport := range []string{TransportWS, TransportLongPoll} {
		t.Run(transport, func(t *testing.T) {
			base := startNode(t, 3, 10)
			runID := "n" + transport
			ob := observe(t, base, []string{"op1", "op2", "op3"}, "cl"+runID+"-")
			// Several base URLs, as for a cluster: here two spellings of one node.
			other := strings.Replace(base, "127.0.0.1", "localhost", 1)
			o := &Options{
				VisitorURLs: []string{base, other}, OperatorURLs: []string{other}, Visitors: 12, Operators: 3, Rate: 200, Inflight: 32,
				Duration: 1500 * time.Millisecond, Drain: 5 * time.Second, VisitorTransport: transport,
				Reply: true, PID: os.Getpid(), RunID: runID,
			}
			rep, err := Run(context.Background(), o, nil)
			if err != nil {
				t.Fatal(err)
			}
			m := rep.Messages
			if !rep.OK {
				t.Fatalf("not ok: %v; failures %v; messages %+v; replies %+v", rep.Problems, rep.Failures, m, rep.Replies)
			}
			if rep.Visitors.Ready != 12 || rep.Operators.Ready != 3 {
				t.Fatalf("visitors %+v operators %+v", rep.Visitors, rep.Operators)
			}
			if m.Sent < 200 || m.Delivered != m.Sent || m.Accepted != m.Sent {
				t.Fatalf("messages %+v", m)
			}
			// Delivered never exceeds what the operators' streams carried,
			// as seen by sockets the load generator does not own.
			testutil.WaitFor(t, 5*time.Second, func() error {
				if n := ob.count(); uint64(n) < m.Delivered {
					return fmt.Errorf("observer saw %d of the %d messages reported delivered", n, m.Delivered)
				}
				return nil
			})
			if n := ob.count(); uint64(n) > m.Sent {
				t.Fatalf("observer saw %d messages, more than the %d sent", n, m.Sent)
			}
			if r := rep.Replies; r.Delivered != m.Delivered || r.Failed != 0 {
				t.Fatalf("replies %+v", r)
			}
			if rep.Assignment == nil || rep.Assignment.Count != 12 {
				t.Fatalf("assignment %+v", rep.Assignment)
			}
			if rep.ServerMemory == nil || rep.ServerMemory.PeakBytes == 0 {
				t.Fatalf("server memory %+v", rep.ServerMemory)
			}
		})
	}
}

func TestIdleAgainstNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	base := startNode(t, 2, 5)
	o := &Options{Mode: ModeIdle, VisitorURLs: []string{base}, Operators: 2, Conns: 40, Duration: 300 * time.Millisecond, PID: os.Getpid()}
	rep, err := Run(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	i := rep.Idle
	if !rep.OK || i.Opened != 40 || i.StillOpen != 40 || i.ServerBeforeBytes == 0 || i.ServerAfterBytes == 0 {
		t.Fatalf("problems %v failures %v idle %+v", rep.Problems, rep.Failures, i)
	}
}

func TestReportsFailuresAgainstClosedPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ln.Close()
	for _, mode := range []string{ModeChat, ModeIdle} {
		o := &Options{Mode: mode, VisitorURLs: []string{base}, Operators: 3, Visitors: 5, Duration: time.Second, SetupTimeout: 2 * time.Second}
		start := time.Now()
		rep, err := Run(context.Background(), o, nil)
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("%s: took %v against a closed port", mode, took)
		}
		if rep.OK || rep.Failures["login: connection-refused"] != 3 {
			t.Fatalf("%s: ok %v failures %v problems %v", mode, rep.OK, rep.Failures, rep.Problems)
		}
	}
}
