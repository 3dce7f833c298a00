package clustertest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/chatnode/chatnode/internal/testutil"
)

// The master of a cluster, killed right after acknowledging messages, comes
// back on the shared PostgreSQL with every acknowledged message, the queue
// and the assignment intact.
func TestMasterRestartKeepsAcknowledged(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	master, slave := c.startPair()

	op, opStream := onlineOperator(t, slave.endpoint)
	held := newVisitor(t, master.endpoint)
	held.mustAct(t, master.endpoint, "chat.start", "first-question", "held chat", "client-side-id", "h-0")
	chatID := waitAssigned(t, opStream)
	// Invisible: alice keeps her chat and gets no new one, so the next waits.
	if a := op.setStatus(t, slave.endpoint, "invisible"); !a.OK() {
		t.Fatalf("set-status invisible: %v", a)
	}
	waiting := newVisitor(t, master.endpoint)
	waiting.mustAct(t, master.endpoint, "chat.start", "first-question", "waiting chat", "client-side-id", "w-0")

	// Both sides write at once, the operator through the slave; every
	// acknowledged message is recorded.
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range 40 {
			text := fmt.Sprintf("visitor %02d", i)
			if a, err := held.act(master.endpoint, "chat.message", "message", text, "client-side-id", text); err == nil && a.OK() {
				mu.Lock()
				acked = append(acked, text)
				mu.Unlock()
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := range 40 {
			text := fmt.Sprintf("operator %02d", i)
			if a, err := op.message(slave.endpoint, chatID, text, text); err == nil && a.OK() {
				mu.Lock()
				acked = append(acked, text)
				mu.Unlock()
			}
		}
	}()
	wg.Wait()
	master.kill(t)
	if len(acked) != 80 {
		t.Fatalf("%d of 80 messages acknowledged before the kill", len(acked))
	}

	master = c.start("master", "master")
	testutil.WaitFor(t, waitTimeout, func() error {
		s, err := held.state(master.endpoint)
		if err != nil {
			return err
		}
		ch, ok := s.chat(chatID)
		if !ok || ch.State != "chatting" || ch.OperatorID != 1 {
			return fmt.Errorf("held chat after the restart: %+v", ch)
		}
		return s.hasTexts(chatID, append([]string{"held chat"}, acked...)...)
	})
	testutil.WaitFor(t, waitTimeout, func() error {
		s, err := waiting.state(master.endpoint)
		if err != nil {
			return err
		}
		ch, err := s.only()
		if err != nil {
			return err
		}
		if ch.State != "queue" {
			return fmt.Errorf("waiting chat after the restart is %q, want queue", ch.State)
		}
		return nil
	})
	// The restored queue and load: back online, alice gets the waiting chat.
	if a := op.setStatus(t, slave.endpoint, "online"); !a.OK() {
		t.Fatalf("set-status online: %v", a)
	}
	testutil.WaitFor(t, waitTimeout, func() error {
		s, err := waiting.state(master.endpoint)
		if err != nil {
			return err
		}
		ch, err := s.only()
		if err != nil {
			return err
		}
		if ch.State != "chatting" || ch.OperatorID != 1 {
			return fmt.Errorf("waiting chat: state %q, operator %d", ch.State, ch.OperatorID)
		}
		return nil
	})
}

// Turning scaling off: with the cluster stopped, one node started without
// the scaling flags on the same database serves every chat, including the
// ones the slave owned.
func TestTurningScalingOff(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	master, slave := c.startPair()

	op, opStream := onlineOperator(t, master.endpoint)
	onMaster := newVisitor(t, master.endpoint)
	onMaster.mustAct(t, master.endpoint, "chat.start", "first-question", "owned by the master", "client-side-id", "m-0")
	masterChat := waitAssigned(t, opStream)
	onSlave := newVisitor(t, slave.endpoint)
	onSlave.mustAct(t, slave.endpoint, "chat.start", "first-question", "owned by the slave", "client-side-id", "s-0")
	var slaveChat string
	testutil.WaitFor(t, waitTimeout, func() error {
		s, err := onSlave.state(slave.endpoint)
		if err != nil {
			return err
		}
		ch, err := s.only()
		if err != nil {
			return err
		}
		if ch.State != "chatting" {
			return fmt.Errorf("slave's chat is %q", ch.State)
		}
		slaveChat = ch.ID
		return nil
	})
	slave.stop(t)
	master.stop(t)

	solo := c.startStandalone()
	for _, tc := range []struct {
		v      *visitor
		chatID string
		first  string
	}{{onMaster, masterChat, "owned by the master"}, {onSlave, slaveChat, "owned by the slave"}} {
		tc.v.mustAct(t, solo.endpoint, "chat.message", "message", "after scaling off", "client-side-id", "after-"+tc.chatID)
		if a, err := op.message(solo.endpoint, tc.chatID, "operator after scaling off", "op-"+tc.chatID); err != nil || !a.OK() {
			t.Fatalf("operator message into %s on the standalone node: %v %v", tc.chatID, a, err)
		}
		testutil.WaitFor(t, waitTimeout, func() error {
			s, err := tc.v.state(solo.endpoint)
			if err != nil {
				return err
			}
			return s.hasTexts(tc.chatID, tc.first, "after scaling off", "operator after scaling off")
		})
	}
}
