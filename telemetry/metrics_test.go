package telemetry_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/chatnode/chatnode/internal/testutil"
	"github.com/chatnode/chatnode/messages"
	"github.com/chatnode/chatnode/telemetry"
)

type block struct{}

func TestActorMetrics(t *testing.T) {
	m := telemetry.NewMetrics("n1", "chat")
	sys := newSystem(t, actor.WithMetricProviders(m.MeterProvider()))

	chat, err := sys.Root.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*messages.ChatEvent); ok && ctx.Sender() != nil {
			ctx.Respond(&answer{})
		}
	}, m.PropsOptions(telemetry.KindChat)...), "chats/c1#1")
	if err != nil {
		t.Fatal(err)
	}
	for range 9 {
		sys.Root.Send(chat, &messages.ChatEvent{})
	}
	if _, err := sys.Root.RequestFuture(chat, &messages.ChatEvent{}, waitTimeout).Result(); err != nil {
		t.Fatal(err)
	}
	waitSample(t, m, 10, "chatnode_actor_messages_total", "kind=chat", "node=n1", "role=chat")
	waitSample(t, m, 10, "chatnode_actor_message_seconds", "kind=chat")
	waitSample(t, m, 1, "chatnode_actors_live", "kind=chat")

	text, fams := scrape(t, m)
	for _, family := range []string{
		"chatnode_actor_messages_total", "chatnode_actor_message_seconds", "chatnode_actors_live",
		"chatnode_actor_mailbox_depth", "chatnode_actor_mailbox_depth_max",
		"chatnode_actor_failures_total", "chatnode_actor_restarts_total",
		"go_goroutines", "process_cpu_seconds_total",
		"protoactor_actor_spawn_count_total", "protoactor_actor_message_receive_duration_seconds",
	} {
		if _, ok := fams[family]; !ok {
			t.Errorf("family %s missing from\n%s", family, text)
		}
	}
	if !strings.Contains(text, `chatnode_actor_message_seconds_bucket{kind="chat",node="n1",role="chat",le="0.001"}`) {
		t.Errorf("no histogram bucket line in\n%s", text)
	}
	if strings.Contains(text, "protoactor_actor_mailbox_length{") {
		t.Error("protoactor's mailbox gauge reported: its per-spawn callbacks were registered")
	}
	if v, _ := sample(fams, "protoactor_actor_spawn_count_total"); v < 1 {
		t.Errorf("protoactor_actor_spawn_count_total = %v, want at least 1", v)
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "chatnode_") && !strings.Contains(line, `node="n1"`) {
			t.Errorf("series without the node label: %s", line)
		}
	}

	// Mailbox depth: an operator blocked in its first message, with four
	// more waiting.
	entered, release := make(chan struct{}), make(chan struct{})
	first := true // the actor's own state: it handles one message at a time
	op, _ := sys.Root.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*block); ok && first {
			first = false
			entered <- struct{}{}
			<-release
		}
	}, m.PropsOptions(telemetry.KindOperator)...), "operators/o1#1")
	sys.Root.Send(op, &block{})
	<-entered
	for range 4 {
		sys.Root.Send(op, &block{})
	}
	_, fams = scrape(t, m)
	if v, _ := sample(fams, "chatnode_actor_mailbox_depth", "kind=operator"); v != 5 {
		t.Errorf("operator mailbox depth %v, want 5", v)
	}
	if v, _ := sample(fams, "chatnode_actor_mailbox_depth_max", "kind=operator"); v != 5 {
		t.Errorf("operator mailbox max depth %v, want 5", v)
	}
	close(release)
	waitSample(t, m, 0, "chatnode_actor_mailbox_depth", "kind=operator")
	waitSample(t, m, 5, "chatnode_actor_messages_total", "kind=operator")

	// Stopping brings the live gauge down.
	if err := sys.Root.PoisonFuture(chat).Wait(); err != nil {
		t.Fatal(err)
	}
	waitSample(t, m, 0, "chatnode_actors_live", "kind=chat")
	waitSample(t, m, 1, "chatnode_actors_live", "kind=operator")
}

func TestActorFailuresAndRestarts(t *testing.T) {
	m := telemetry.NewMetrics("n1", "")
	sys := newSystem(t)
	pid, _ := sys.Root.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*block); ok {
			panic("boom")
		}
	}, m.PropsOptions(telemetry.KindAssigner)...), "assigner")
	sys.Root.Send(pid, &block{})
	waitSample(t, m, 1, "chatnode_actor_failures_total", "kind=assigner")
	waitSample(t, m, 1, "chatnode_actor_restarts_total", "kind=assigner")
	waitSample(t, m, 1, "chatnode_actors_live", "kind=assigner")
	waitSample(t, m, 1, "chatnode_actor_messages_total", "kind=assigner")
}

func TestDomainMetrics(t *testing.T) {
	m := telemetry.NewMetrics("n1", "chat")
	m.AssignmentLatency("sales", 3*time.Second)
	m.AssignmentLatency("sales", 40*time.Second)
	m.SetQueueLength("sales", 4)
	m.SetQueueLength("", 1)
	m.RegisterSessions(func() (int64, int64, int64) { return 7, 2, 3 })
	h := m.MQHooks()
	h.Published()
	h.Published()
	h.Confirmed(2 * time.Millisecond)
	h.Nacked()
	h.Delivered()
	h.Redelivered()
	h.Reconnected()
	h.LinkUp(true)
	m.StoreBatch(12, 3*time.Millisecond)
	m.StoreBatch(3, time.Millisecond)
	m.HTTPRequest("/l/v/m/action", 200, 2*time.Millisecond)
	m.HTTPRequest("/l/v/m/action", 429, time.Millisecond)
	m.HTTPRequest("/l/v/m/delta", 1000, time.Millisecond)

	text, fams := scrape(t, m)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"chatnode_assignment_wait_seconds", []string{"department=sales"}, 2},
		{"chatnode_queue_length", []string{"department=sales"}, 4},
		{"chatnode_queue_length", []string{"department=none"}, 1},
		{"chatnode_websocket_sessions", []string{"side=visitor"}, 7},
		{"chatnode_websocket_sessions", []string{"side=operator"}, 2},
		{"chatnode_long_polls", nil, 3},
		{"chatnode_mq_published_total", nil, 2},
		{"chatnode_mq_confirmed_total", nil, 1},
		{"chatnode_mq_confirm_seconds", nil, 1},
		{"chatnode_mq_nacked_total", nil, 1},
		{"chatnode_mq_delivered_total", nil, 1},
		{"chatnode_mq_redelivered_total", nil, 1},
		{"chatnode_mq_reconnects_total", nil, 1},
		{"chatnode_mq_link_up", nil, 1},
		{"chatnode_store_writes_total", nil, 15},
		{"chatnode_store_write_seconds", nil, 2},
		{"chatnode_http_requests_total", []string{"route=/l/v/m/action", "status=200"}, 1},
		{"chatnode_http_requests_total", []string{"route=/l/v/m/action", "status=429"}, 1},
		{"chatnode_http_requests_total", []string{"route=/l/v/m/delta", "status=other"}, 1},
		{"chatnode_http_request_seconds", []string{"route=/l/v/m/action"}, 2},
	} {
		got, ok := sample(fams, c.name, append(c.labels, "node=n1", "role=chat")...)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if !strings.Contains(text, `chatnode_assignment_wait_seconds_bucket{department="sales",node="n1",role="chat",le="5"} 1`) {
		t.Errorf("assignment wait buckets wrong in\n%s", text)
	}
	h.LinkUp(false)
	waitSample(t, m, 0, "chatnode_mq_link_up")
}

func TestLabelValuesAreBounded(t *testing.T) {
	m := telemetry.NewMetrics("n1", "chat")
	for i := range 300 {
		m.SetQueueLength(fmt.Sprintf("d%d", i), i)
		m.HTTPRequest(fmt.Sprintf("/r%d", i), 200, time.Millisecond)
	}
	m.SetQueueLength("\xff", 1)
	_, fams := scrape(t, m)
	if n := len(fams["chatnode_queue_length"].GetMetric()); n > 201 {
		t.Errorf("%d department series, want at most 201", n)
	}
	if v, ok := sample(fams, "chatnode_http_requests_total", "route=other"); !ok || v != 100 {
		t.Errorf("route=other counted %v (found %v), want 100", v, ok)
	}
	if _, ok := sample(fams, "chatnode_queue_length", "department=d10"); !ok {
		t.Error("an early department was dropped")
	}
}

func TestSessionsDefaultToZero(t *testing.T) {
	m := telemetry.NewMetrics("", "")
	waitSample(t, m, 0, "chatnode_websocket_sessions", "side=visitor")
	waitSample(t, m, 0, "chatnode_long_polls")
	testutil.WaitFor(t, waitTimeout, func() error {
		text, _ := scrape(t, m)
		if strings.Contains(text, `node="`) {
			return fmt.Errorf("a node label without a node name")
		}
		return nil
	})
}

func TestMailboxKinds(t *testing.T) {
	m := telemetry.NewMetrics("n1", "chat")
	sys := newSystem(t)
	// entered has room for the signal: the actor may reach it before the
	// test waits for it.
	entered, release := make(chan struct{}, 1), make(chan struct{})
	hold := func(ctx actor.Context) {
		if _, ok := ctx.Message().(*block); ok {
			select {
			case entered <- struct{}{}:
				<-release
			default:
			}
		}
	}
	// A directory measured as "directory"; its messages count under its
	// process id's kind.
	dir, _ := sys.Root.SpawnNamed(actor.PropsFromFunc(hold, m.PropsOptions(telemetry.KindDirectory)...), "chats")
	// A mailbox built by hand around MailboxStats.
	bridge, _ := sys.Root.SpawnNamed(actor.PropsFromFunc(func(actor.Context) {},
		actor.WithReceiverMiddleware(m.ReceiverMiddleware()),
		actor.WithMailbox(actor.Unbounded(m.MailboxStats(telemetry.KindBridge)))), "bridge")

	sys.Root.Send(dir, &block{})
	<-entered
	sys.Root.Send(dir, &block{})
	_, fams := scrape(t, m)
	if v, _ := sample(fams, "chatnode_actor_mailbox_depth", "kind=directory"); v != 2 {
		t.Errorf("directory mailbox depth %v, want 2", v)
	}
	close(release)
	for range 3 {
		sys.Root.Send(bridge, &block{})
	}
	waitSample(t, m, 2, "chatnode_actor_messages_total", "kind=chats")
	waitSample(t, m, 3, "chatnode_actor_messages_total", "kind=bridge")
	waitSample(t, m, 0, "chatnode_actor_mailbox_depth", "kind=directory")
	waitSample(t, m, 0, "chatnode_actor_mailbox_depth", "kind=bridge")
	waitSample(t, m, 1, "chatnode_actors_live", "kind=bridge")
}

func BenchmarkHTTPRequest(b *testing.B) {
	m := telemetry.NewMetrics("bench", "standalone")
	b.ReportAllocs()
	for b.Loop() {
		m.HTTPRequest("/l/v/m/action", 200, time.Millisecond)
	}
}
