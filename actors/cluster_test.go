package actors

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chatnode/chatnode"
	"github.com/chatnode/chatnode/internal/testutil"
)

// memLink is an in-memory transport between hubs: each node gets its
// deliveries in publish order on its own goroutine, like a RabbitMQ queue
// with one consumer.
type memLink struct {
	mu    sync.Mutex
	nodes map[string]*memQueue
	down  map[string]bool // nodes whose deliveries are dropped (a lost node)
}

type memQueue struct {
	mu   sync.Mutex
	cond *sync.Cond
	msgs [][]byte
	hub  *Hub
	stop bool
}

func (l *memLink) publish(from string) func(routingKey, eventID string, headers map[string]string, body []byte) {
	return func(routingKey, _ string, _ map[string]string, body []byte) {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.down[from] {
			return
		}
		for name, q := range l.nodes {
			toPeers := routingKey == RoutePeers(from) && name != from
			if l.down[name] || (!toPeers && routingKey != RouteNode(name)) {
				continue
			}
			q.mu.Lock()
			q.msgs = append(q.msgs, body)
			q.cond.Signal()
			q.mu.Unlock()
		}
	}
}

func (l *memLink) attach(t *testing.T, name string, h *Hub) {
	q := &memQueue{hub: h}
	q.cond = sync.NewCond(&q.mu)
	l.mu.Lock()
	l.nodes[name] = q
	l.mu.Unlock()
	go func() {
		for {
			q.mu.Lock()
			for len(q.msgs) == 0 && !q.stop {
				q.cond.Wait()
			}
			if q.stop {
				q.mu.Unlock()
				return
			}
			body := q.msgs[0]
			q.msgs = q.msgs[1:]
			q.mu.Unlock()
			if err := q.hub.Deliver(body, nil); err != nil {
				t.Error(err)
			}
		}
	}()
	t.Cleanup(func() { q.mu.Lock(); q.stop = true; q.cond.Signal(); q.mu.Unlock() })
}

// newTestCluster starts a master and a slave sharing one store.
func newTestCluster(t *testing.T) (master, slave *Hub, link *memLink) {
	t.Helper()
	st, w := openStore(t, t.TempDir())
	link = &memLink{nodes: map[string]*memQueue{}, down: map[string]bool{}}
	nodes := []string{"master", "slave"}
	mk := func(self string) *Hub {
		h := New(Options{Store: st, Writer: w, AssignTick: 20 * time.Millisecond, RequestTimeout: 3 * time.Second,
			AuthSecret: []byte("cluster-test-secret"),
			Cluster:    &ClusterOptions{Self: self, Master: "master", Nodes: nodes, Publish: link.publish(self)}})
		if err := h.Start(bg); err != nil {
			t.Fatal(err)
		}
		link.attach(t, self, h)
		t.Cleanup(h.Stop)
		return h
	}
	master, slave = mk("master"), mk("slave")
	testutil.WaitFor(t, 5*time.Second, func() error {
		if !slave.ClusterHealth().MasterUp || !master.ClusterHealth().Peers["slave"] {
			return fmt.Errorf("nodes have not heard each other yet")
		}
		return nil
	})
	return master, slave, link
}

// TestClusterChat: a visitor on the master, an operator on the slave; the
// assigner on the master decides, the chat (owned by the master) applies,
// and both sides see every change through their own node.
func TestClusterChat(t *testing.T) {
	master, slave, _ := newTestCluster(t)
	v := newVisitor(t, master)
	if err := v.do(VisitorRequest{Action: ActStart, FirstQuestion: "hello cluster", ClientSideID: "s1"}); err != nil {
		t.Fatal(err)
	}
	chatID := chatIDOf(t, v.waitItem(objChat, "hello cluster"))
	alice := newOperator(t, slave, "alice", chatnode.StatusOnline) // set-status lands on the slave
	alice.waitItem(objChat, "hello cluster")
	v.waitItem(objState, "chatting")
	if err := alice.do(OperatorRequest{Action: ActMessage, ChatID: chatID, Message: "hi from the slave", ClientSideID: "o1"}); err != nil {
		t.Fatal(err)
	}
	v.waitItem(objMessage, "hi from the slave")
	if err := v.do(VisitorRequest{Action: ActMessage, Message: "hi from the master", ClientSideID: "v1"}); err != nil {
		t.Fatal(err)
	}
	alice.waitItem(objMessage, "hi from the master")

	// The same visitor reaches the slave too: its session comes from the
	// shared store and its chat from the owner's snapshot.
	vs := &testVisitor{h: slave, auth: v.auth}
	vs.stream = &stream{t: t, poll: func(since int64) (*Update, error) { return slave.VisitorDelta(bg, vs.auth, since, 20*time.Millisecond) }}
	if err := vs.do(VisitorRequest{Action: ActMessage, Message: "via the slave", ClientSideID: "v2"}); err != nil {
		t.Fatal(err)
	}
	alice.waitItem(objMessage, "via the slave")
	v.waitItem(objMessage, "via the slave")
}

// TestClusterConcurrentOrder sends messages from both sides through both
// nodes at once; every replica ends with the same order as the owner.
func TestClusterConcurrentOrder(t *testing.T) {
	master, slave, _ := newTestCluster(t)
	v := newVisitor(t, master)
	if err := v.do(VisitorRequest{Action: ActStart, FirstQuestion: "order"}); err != nil {
		t.Fatal(err)
	}
	chatID := chatIDOf(t, v.waitItem(objChat, "order"))
	alice := newOperator(t, slave, "alice", chatnode.StatusOnline)
	alice.waitItem(objChat, "order")
	var wg sync.WaitGroup
	const n = 40
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; i < n; i++ {
			if err := v.do(VisitorRequest{Action: ActMessage, Message: fmt.Sprintf("v%02d", i), ClientSideID: fmt.Sprintf("v%d", i)}); err != nil {
				t.Error(err)
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < n; i++ {
			if err := alice.do(OperatorRequest{Action: ActMessage, ChatID: chatID, Message: fmt.Sprintf("o%02d", i), ClientSideID: fmt.Sprintf("o%d", i)}); err != nil {
				t.Error(err)
			}
		}
	}()
	wg.Wait()
	v.waitItem(objMessage, `"v39"`)
	v.waitItem(objMessage, `"o39"`)
	alice.waitItem(objMessage, `"v39"`)
	alice.waitItem(objMessage, `"o39"`)
	ids := func(s *stream) []string {
		var out []string
		for _, it := range s.items {
			if it.ObjectType == objMessage {
				out = append(out, it.ID)
			}
		}
		return out
	}
	msgs, err := master.store.Messages(bg, chatID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var stored []string
	for _, m := range msgs {
		stored = append(stored, m.ID)
	}
	tail := func(s []string, k int) []string { return s[len(s)-k:] }
	if got, want := fmt.Sprint(tail(ids(v.stream), 2*n)), fmt.Sprint(tail(stored, 2*n)); got != want {
		t.Fatalf("visitor (master) order differs from the owner's:\n got %s\nwant %s", got, want)
	}
	if got, want := fmt.Sprint(tail(ids(alice.stream), 2*n)), fmt.Sprint(tail(stored, 2*n)); got != want {
		t.Fatalf("operator (slave) order differs from the owner's:\n got %s\nwant %s", got, want)
	}
}

// TestClusterMasterLost: with the master gone the slave reports it, refuses
// what needs the master with no-assignment, and keeps its own chats going.
func TestClusterMasterLost(t *testing.T) {
	master, slave, link := newTestCluster(t)
	alice := newOperator(t, master, "alice", chatnode.StatusOnline)
	v := newVisitor(t, slave) // the chat is created on, and owned by, the slave
	if err := v.do(VisitorRequest{Action: ActStart, FirstQuestion: "slave-owned"}); err != nil {
		t.Fatal(err)
	}
	chatID := chatIDOf(t, v.waitItem(objChat, "slave-owned"))
	if owner := master.chatOwner(chatID); owner != "slave" {
		t.Fatalf("chat %s should be owned by the slave, master says %q", chatID, owner)
	}
	alice.waitItem(objChat, "slave-owned")
	as := &testOperator{h: slave, token: alice.token}
	as.stream = &stream{t: t, poll: func(since int64) (*Update, error) {
		return slave.OperatorDelta(bg, as.token, since, 20*time.Millisecond)
	}}
	testutil.WaitFor(t, 5*time.Second, func() error { // the slave's replica of alice holds the chat
		u, err := slave.OperatorDelta(bg, as.token, 0, 0)
		if err != nil {
			return err
		}
		as.take(u)
		if !contains(string(as.full), "slave-owned") {
			return fmt.Errorf("not yet: %s", as.full)
		}
		return nil
	})

	link.mu.Lock()
	link.down["master"] = true
	link.mu.Unlock()
	master.Stop()
	testutil.WaitFor(t, 10*time.Second, func() error {
		if slave.ClusterHealth().MasterUp {
			return fmt.Errorf("slave still thinks the master is up")
		}
		return nil
	})
	wantCode(t, slave.OperatorSetStatus(bg, as.token, chatnode.StatusOffline), chatnode.ENotMaster)
	// The slave's own chat keeps going on both sides.
	if err := as.do(OperatorRequest{Action: ActMessage, ChatID: chatID, Message: "still here", ClientSideID: "x"}); err != nil {
		t.Fatal(err)
	}
	v.waitItem(objMessage, "still here")
	if err := v.do(VisitorRequest{Action: ActMessage, Message: "me too", ClientSideID: "y"}); err != nil {
		t.Fatal(err)
	}
	as.waitItem(objMessage, "me too")
}
