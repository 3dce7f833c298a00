package clustertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chatnode/chatnode/internal/testservices"
	"github.com/chatnode/chatnode/internal/testutil"
)

// brokerRestartEnv enables TestBrokerRestart. The test stops and starts the
// broker application, which breaks every other client of the broker for a
// few seconds, so it runs only where nothing else uses the broker: CI runs
// this package alone with it set.
const brokerRestartEnv = "CHATNODE_BROKER_RESTART_TEST"

// sentLog records the messages a sender got {"result":"ok"} for.
type sentLog struct {
	mu       sync.Mutex
	accepted []string
	refused  int
	lastErr  string
}

func (l *sentLog) record(text string, a testservices.Answer, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil && a.OK() {
		l.accepted = append(l.accepted, text)
		return
	}
	l.refused++
	if err != nil {
		l.lastErr = err.Error()
	} else {
		l.lastErr = a.String()
	}
}

func (l *sentLog) refusedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.refused
}

func (l *sentLog) lastError() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastErr
}

func (l *sentLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.accepted)
}

// rabbitmqctl runs rabbitmqctl with args, within a minute.
func rabbitmqctl(tb testing.TB, ctl string, args ...string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, ctl, args...).CombinedOutput(); err != nil {
		tb.Fatalf("rabbitmqctl %v: %v\n%s", args, err, out)
	}
}

// A RabbitMQ restart in the middle of a conversation loses no message a
// node accepted: once the broker is back, every accepted message is in the
// chat on both nodes, in one order.
func TestBrokerRestart(t *testing.T) {
	if os.Getenv(brokerRestartEnv) != "1" {
		t.Skipf("restarts the shared RabbitMQ broker; set %s=1 and run this package alone", brokerRestartEnv)
	}
	// Not parallel: the other tests of this package must not run while the
	// broker is away.
	ctl := needRabbitmqctl(t)
	c := newCluster(t, clusterOptions{})
	master, slave := c.startPair()
	op, opStream := onlineOperator(t, slave.endpoint)
	v := newVisitor(t, master.endpoint)
	v.mustAct(t, master.endpoint, "chat.start", "first-question", "start", "client-side-id", "q-1")
	chatID := waitAssigned(t, opStream)

	// Senders with short client timeouts, so that a request held while the
	// broker is away does not hold the test.
	quick := func(n *node) *endpoint {
		e := c.endpoint(n.addr)
		e.client.Timeout = 5 * time.Second
		return e
	}
	onMaster, onSlave := quick(master), quick(slave)
	var visitorSent, operatorSent sentLog
	stop := make(chan struct{})
	var wg sync.WaitGroup
	sender := func(log *sentLog, prefix string, send func(text string) (testservices.Answer, error)) {
		defer wg.Done()
		for i := 0; ; i++ {
			text := fmt.Sprintf("%s-%04d", prefix, i)
			a, err := send(text)
			log.record(text, a, err)
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond): // pacing, not waiting for anything
			}
		}
	}
	wg.Add(2)
	go sender(&visitorSent, "v", func(text string) (testservices.Answer, error) {
		return v.act(onMaster, "chat.message", "message", text, "client-side-id", text)
	})
	go sender(&operatorSent, "o", func(text string) (testservices.Answer, error) {
		return op.message(onSlave, chatID, text, text)
	})
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()
	testutil.WaitFor(t, waitTimeout, func() error {
		if visitorSent.count() < 5 || operatorSent.count() < 5 {
			return fmt.Errorf("accepted so far: %d visitor, %d operator messages", visitorSent.count(), operatorSent.count())
		}
		return nil
	})

	// Whatever happens below, the broker is started again.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx, ctl, "start_app").CombinedOutput(); err != nil {
			t.Errorf("rabbitmqctl start_app: %v\n%s", err, out)
		}
	})
	rabbitmqctl(t, ctl, "stop_app")
	atStop := visitorSent.count() + operatorSent.count()
	testutil.WaitFor(t, waitTimeout, func() error {
		for _, n := range []*node{master, slave} {
			if h, err := n.health(); err != nil || h.MQ != "down" {
				return fmt.Errorf("node %s: health %v %v, want mq down", n.name, h, err)
			}
		}
		return nil
	})
	// The master's own chat takes visitor messages while the broker is
	// away; they reach the slave once it is back.
	downFrom := visitorSent.count()
	testutil.WaitFor(t, waitTimeout, func() error {
		if n := visitorSent.count() - downFrom; n < 10 {
			return fmt.Errorf("%d visitor messages accepted while the broker is away, want 10 (refused %d, last: %s)", n, visitorSent.refusedCount(), visitorSent.lastError())
		}
		return nil
	})
	beforeUp := visitorSent.count() + operatorSent.count()
	rabbitmqctl(t, ctl, "start_app")
	testutil.WaitFor(t, waitTimeout, func() error {
		if err := master.healthy(); err != nil {
			return err
		}
		return slave.healthy()
	})
	// The conversation goes on after the broker is back.
	testutil.WaitFor(t, waitTimeout, func() error {
		if n := visitorSent.count() + operatorSent.count(); n < beforeUp+10 {
			return fmt.Errorf("%d messages accepted since the broker came back, want 10", n-beforeUp)
		}
		return nil
	})
	close(stop)
	wg.Wait()

	accepted := append(slices.Clone(visitorSent.accepted), operatorSent.accepted...)
	t.Logf("accepted %d visitor and %d operator messages, %d while the broker was away; refused %d (last: %s) and %d (last: %s)",
		len(visitorSent.accepted), len(operatorSent.accepted), beforeUp-atStop,
		visitorSent.refused, visitorSent.lastErr, operatorSent.refused, operatorSent.lastErr)
	views := []struct {
		name  string
		state func() (*stream, error)
	}{
		{"visitor on the master", func() (*stream, error) { return v.state(master.endpoint) }},
		{"visitor on the slave", func() (*stream, error) { return v.state(slave.endpoint) }},
		{"operator on the master", func() (*stream, error) { return op.state(master.endpoint) }},
		{"operator on the slave", func() (*stream, error) { return op.state(slave.endpoint) }},
	}
	testutil.WaitFor(t, waitTimeout, func() error {
		var first []string
		for i, view := range views {
			s, err := view.state()
			if err != nil {
				return fmt.Errorf("%s: %v", view.name, err)
			}
			if err := s.hasTexts(chatID, accepted...); err != nil {
				return fmt.Errorf("%s: %v", view.name, err)
			}
			ch, _ := s.chat(chatID)
			if i == 0 {
				first = ch.ids()
			} else if !slices.Equal(ch.ids(), first) {
				return fmt.Errorf("%s has the messages in another order than %s", view.name, views[0].name)
			}
		}
		return nil
	})
}
