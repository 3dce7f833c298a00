package clustertest

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chatnode/chatnode/internal/testservices"
	"github.com/chatnode/chatnode/internal/testutil"
)

// waitAssigned waits until the operator's stream s holds exactly one chat,
// chatting with operator 1 (alice), and returns its id.
func waitAssigned(tb testing.TB, s *stream) string {
	tb.Helper()
	var id string
	testutil.WaitFor(tb, waitTimeout, func() error {
		c, err := s.only()
		if err != nil {
			return err
		}
		if c.State != "chatting" || c.OperatorID != 1 {
			return fmt.Errorf("chat %s: state %q, operator %d", c.ID, c.State, c.OperatorID)
		}
		id = c.ID
		return nil
	})
	return id
}

// onlineOperator logs alice in on e, sets her online there and opens her
// WebSocket there.
func onlineOperator(tb testing.TB, e *endpoint) (*operator, *stream) {
	tb.Helper()
	op := login(tb, e)
	op.setStatus(tb, e, "online")
	s, _ := op.socket(tb, e)
	return op, s
}

// A visitor on the master and an operator on the slave chat: the master
// assigns the chat, it arrives on the operator's WebSocket on the slave, and
// messages both ways reach both sides' streams.
func TestChatAcrossNodes(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	master, slave := c.startPair()

	op, opStream := onlineOperator(t, slave.endpoint)
	v := newVisitor(t, master.endpoint)
	vStream := v.follow(t, master.endpoint)
	v.mustAct(t, master.endpoint, "chat.start", "first-question", "first question", "client-side-id", "q-1")
	chatID := waitAssigned(t, opStream)

	v.mustAct(t, master.endpoint, "chat.message", "message", "from the visitor", "client-side-id", "v-1")
	if a, err := op.message(slave.endpoint, chatID, "from the operator", "o-1"); err != nil || !a.OK() {
		t.Fatalf("operator message on the slave: %v %v", a, err)
	}
	texts := []string{"first question", "from the visitor", "from the operator"}
	testutil.WaitFor(t, waitTimeout, func() error { return opStream.hasTexts(chatID, texts...) })
	testutil.WaitFor(t, waitTimeout, func() error {
		if err := vStream.hasTexts(chatID, texts...); err != nil {
			return err
		}
		if ch, _ := vStream.chat(chatID); ch.State != "chatting" || ch.OperatorID != 1 {
			return fmt.Errorf("visitor sees state %q, operator %d", ch.State, ch.OperatorID)
		}
		return nil
	})
}

// Messages sent at once from both sides, the visitor's to the master and
// the operator's to the slave, end in one order that every view on every
// node shows.
func TestConcurrentMessageOrder(t *testing.T) {
	t.Parallel()
	const senders, perSender = 3, 10
	c := newCluster(t, clusterOptions{})
	master, slave := c.startPair()

	op, opStream := onlineOperator(t, slave.endpoint)
	v := newVisitor(t, master.endpoint)
	v.mustAct(t, master.endpoint, "chat.start", "first-question", "start", "client-side-id", "q-1")
	chatID := waitAssigned(t, opStream)

	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		fails []string
		texts []string
	)
	send := func(side string, w int) {
		defer wg.Done()
		for i := range perSender {
			text := fmt.Sprintf("%s-%d-%02d", side, w, i)
			var (
				a   testservices.Answer
				err error
			)
			if side == "v" {
				a, err = v.act(master.endpoint, "chat.message", "message", text, "client-side-id", text)
			} else {
				a, err = op.message(slave.endpoint, chatID, text, text)
			}
			mu.Lock()
			if err != nil || !a.OK() {
				fails = append(fails, fmt.Sprintf("%s: %v %v", text, a, err))
			}
			texts = append(texts, text)
			mu.Unlock()
		}
	}
	for w := range senders {
		wg.Add(2)
		go send("v", w)
		go send("o", w)
	}
	wg.Wait()
	if len(fails) > 0 {
		t.Fatalf("%d of %d messages refused, e.g. %s", len(fails), len(texts), fails[0])
	}

	views := []struct {
		name  string
		state func() (*stream, error)
	}{
		{"visitor on the master", func() (*stream, error) { return v.state(master.endpoint) }},
		{"visitor on the slave", func() (*stream, error) { return v.state(slave.endpoint) }},
		{"operator on the master", func() (*stream, error) { return op.state(master.endpoint) }},
		{"operator on the slave", func() (*stream, error) { return op.state(slave.endpoint) }},
	}
	var order []string
	testutil.WaitFor(t, waitTimeout, func() error {
		var first []string
		for i, view := range views {
			s, err := view.state()
			if err != nil {
				return fmt.Errorf("%s: %v", view.name, err)
			}
			if err := s.hasTexts(chatID, texts...); err != nil {
				return fmt.Errorf("%s: %v", view.name, err)
			}
			ch, _ := s.chat(chatID)
			ids := ch.ids()
			if i == 0 {
				first, order = ids, textsInOrder(ch)
				continue
			}
			if !slices.Equal(ids, first) {
				return fmt.Errorf("%s has the messages in another order:\n%v\nthan %s:\n%v", view.name, ids, views[0].name, first)
			}
		}
		return nil
	})

	// Each sender waited for one message's answer before sending the next,
	// so the chat keeps each sender's order; and it holds each message once.
	seen := map[string]bool{}
	last := map[string]string{}
	for _, text := range order {
		if seen[text] {
			t.Errorf("message %q appears twice", text)
		}
		seen[text] = true
		if !strings.HasPrefix(text, "v-") && !strings.HasPrefix(text, "o-") {
			continue
		}
		sender := text[:3]
		if prev, ok := last[sender]; ok && prev > text {
			t.Errorf("sender %s: %q comes after %q", sender, text, prev)
		}
		last[sender] = text
	}
}

// textsInOrder returns the chat's message texts in the chat's order.
func textsInOrder(c chat) []string {
	out := make([]string, len(c.Messages))
	for i, m := range c.Messages {
		out[i] = m.Text
	}
	return out
}

// A second process with a node name already running is refused.
func TestDuplicateNodeName(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	_, slave := c.startPair()

	dup := c.spawn("slave", "slave")
	if code := dup.waitExit(t, startTimeout); code == 0 {
		t.Fatalf("a second node named slave exited with 0; its log:\n%s", dup.stderr.String())
	}
	if log := dup.stderr.String(); !strings.Contains(log, "already running") {
		t.Fatalf("the refused node's stderr does not say the name is already running:\n%s", log)
	}
	testutil.WaitFor(t, waitTimeout, slave.healthy)
}

// With the slave killed, the master goes on serving visitors and reports the
// slave down while staying ok.
func TestSlaveKilled(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	master, slave := c.startPair()
	slave.kill(t)

	v := newVisitor(t, master.endpoint)
	v.mustAct(t, master.endpoint, "chat.start", "first-question", "anyone there?", "client-side-id", "q-1")
	texts := []string{"anyone there?"}
	for i := range 3 {
		text := fmt.Sprintf("after the slave died %d", i)
		v.mustAct(t, master.endpoint, "chat.message", "message", text, "client-side-id", text)
		texts = append(texts, text)
	}
	testutil.WaitFor(t, waitTimeout, func() error {
		s, err := v.state(master.endpoint)
		if err != nil {
			return err
		}
		ch, err := s.only()
		if err != nil {
			return err
		}
		return s.hasTexts(ch.ID, texts...)
	})
	testutil.WaitFor(t, waitTimeout, func() error {
		h, err := master.health()
		if err != nil {
			return err
		}
		if h.Code != http.StatusOK || h.Status != "ok" || h.MQ != "up" || !h.MasterUp {
			return fmt.Errorf("master health %v, want 200 ok", h)
		}
		if up, ok := h.Peers["slave"]; !ok || up {
			return fmt.Errorf("master health %v, want peer slave false", h)
		}
		return nil
	})
}

// With the master killed, the slave reports itself degraded and goes on
// serving the chats it owns.
func TestMasterKilled(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	master, slave := c.startPair()

	_, opStream := onlineOperator(t, slave.endpoint)
	v := newVisitor(t, slave.endpoint)
	v.mustAct(t, slave.endpoint, "chat.start", "first-question", "hello", "client-side-id", "q-1")
	chatID := waitAssigned(t, opStream)

	master.kill(t)
	testutil.WaitFor(t, waitTimeout, func() error {
		h, err := slave.health()
		if err != nil {
			return err
		}
		if h.Code != http.StatusServiceUnavailable || h.Status != "degraded" || h.MasterUp {
			return fmt.Errorf("slave health %v, want 503 degraded, masterUp false", h)
		}
		return nil
	})

	texts := []string{"hello"}
	for i := range 3 {
		text := fmt.Sprintf("after the master died %d", i)
		v.mustAct(t, slave.endpoint, "chat.message", "message", text, "client-side-id", text)
		texts = append(texts, text)
	}
	testutil.WaitFor(t, waitTimeout, func() error {
		s, err := v.state(slave.endpoint)
		if err != nil {
			return err
		}
		return s.hasTexts(chatID, texts...)
	})
	testutil.WaitFor(t, waitTimeout, func() error { return opStream.hasTexts(chatID, texts...) })
}
