package observetest

import (
	"encoding/json"
	"testing"

	"github.com/chatnode/chatnode/internal/testutil"
)

// visitorSteps are the spans of a visitor's chat action on node, from the
// HTTP request to the chat actor that applies it. The visitor and chat
// actors run already, so messages reach them straight, without a
// directory's span.
func visitorSteps(node string) []step {
	return []step{
		{node: node, name: "HTTP /l/v/m/action"},
		{node: node, name: "visitor visitorCall"},
		{node: node, name: "chat visitorChatCall"},
	}
}

// messageSteps are the spans of a visitor's chat message on node, from the
// HTTP request to the chat actor. Once the visitor actor has published the
// route to its open chat, a message goes along it to the chat, past the
// visitor actor; before that it takes the visitor actor's hop.
func messageSteps(node string) []step {
	return []step{
		{node: node, name: "HTTP /l/v/m/action"},
		{node: node, name: "visitor visitorCall", optional: true},
		{node: node, name: "chat visitorChatCall"},
	}
}

// persistedStep is the span of the chat's own message that tells it its
// write is durable, when that message carries the trace on.
func persistedStep(node string) []step {
	return []step{{node: node, name: "chat persisted", optional: true}}
}

// operatorSteps are the spans of a chat event reaching the operator actor
// on node, after the span that sent it.
func operatorSteps(node string) []step {
	return []step{{node: node, name: "operator ChatEvent"}}
}

// steps joins chains of steps.
func steps(parts ...[]step) []step {
	var out []step
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// waitChain waits until the receiver holds the chain want of c's trace
// (see chain) and returns it.
func waitChain(t *testing.T, r *receiver, c caller, want []step) []span {
	t.Helper()
	var path []span
	testutil.WaitFor(t, waitTimeout, func() error {
		var err error
		path, err = chain(r.trace(c.traceID), c, want)
		return err
	})
	return path
}

// typing sends a traced visitor typing notice with draft and waits until
// the operator's socket shows it.
func typing(t *testing.T, v *visitor, ws *socket, c caller, draft string) {
	t.Helper()
	v.act(t, c.header(), "chat.visitor_typing", "typing", "true", "message-draft", draft)
	ws.waitItem(t, "the visitor typing "+draft, func(d deltaItem) bool {
		var ty struct {
			Draft string `json:"draft"`
		}
		return d.ObjectType == "CHAT_VISITOR_TYPING" && json.Unmarshal(d.Data, &ty) == nil && ty.Draft == draft
	})
}

// fence sends a traced typing notice and waits for its whole chain to
// want's last step. The operator actor handles it after everything sent
// before, and each node exports spans in the order they end, so once the
// fence's spans are in, so are the spans of every earlier request.
func fence(t *testing.T, r *receiver, v *visitor, ws *socket, want []step) {
	t.Helper()
	c := newCaller(true)
	typing(t, v, ws, c, "fence "+c.traceID[:8])
	waitChain(t, r, c, want)
}

// messageChain checks the chain of a traced chat message. Up to the chat
// actor it must be complete. A chain that stops there, with nothing below
// the chat's span, is a known gap (the chat sends its events once the
// write is durable, from a message that carries no trace) and skips the
// test; any other difference fails it.
func messageChain(t *testing.T, spans []span, c caller, head, want []step) []span {
	t.Helper()
	path, err := chain(spans, c, want)
	if err == nil {
		return path
	}
	start, headErr := chain(spans, c, head)
	if headErr != nil {
		t.Fatalf("the message's trace does not reach the chat actor: %v", headErr)
	}
	if len(descendants(spans, start[len(start)-1])) == 0 {
		t.Fatalf("the message's trace ends at the chat actor:\n%s", chainString(start))
	}
	t.Fatal(err)
	return nil
}

// One visitor request on a standalone node is one trace: the HTTP span
// continues the caller's traceparent, and actor spans follow the message,
// parent to child, to the operator actor that applies the chat event.
func TestTraceStandalone(t *testing.T) {
	exportQuickly(t)
	r := newReceiver(t)
	n := startStandalone(t, "otlp_endpoint = "+r.endpoint(), "trace_sample_ratio = 1")
	v, _, ws, chatID := openChat(t, n.client, n.client)

	const node = "standalone"
	roles := map[string]string{node: "standalone"}
	full := steps(visitorSteps(node), operatorSteps(node))
	message := steps(messageSteps(node), persistedStep(node), operatorSteps(node))
	event := map[string]string{"chatnode.chat_id": chatID, "chatnode.operator_id": "1", "chatnode.visitor_id": v.session}
	ids := map[string]map[string]string{
		"chat visitorChatCall": {"chatnode.visitor_id": v.session},
		"operator ChatEvent":   event,
	}
	check := func(t *testing.T, path []span) {
		t.Helper()
		t.Logf("trace %s:\n%s", path[0].TraceID, chainString(path))
		if err := checkAttrs(path, ids); err != nil {
			t.Error(err)
		}
		if err := checkResource(path, roles); err != nil {
			t.Error(err)
		}
	}

	t.Run("typing", func(t *testing.T) {
		c := newCaller(true)
		typing(t, v, ws, c, "Where is my")
		check(t, waitChain(t, r, c, full))
	})

	t.Run("message", func(t *testing.T) {
		c := newCaller(true)
		v.act(t, c.header(), "chat.message", "message", "Where is my parcel?", "client-side-id", "m-"+c.spanID)
		ws.waitMessage(t, "Where is my parcel?")
		fence(t, r, v, ws, full)
		check(t, messageChain(t, r.trace(c.traceID), c, messageSteps(node), message))
	})

	t.Run("unsampled caller", func(t *testing.T) {
		c := newCaller(false)
		typing(t, v, ws, c, "not sampled")
		fence(t, r, v, ws, full)
		if spans := r.trace(c.traceID); len(spans) > 0 {
			t.Fatalf("a caller's unsampled trace was recorded:\n%s", spanList(spans))
		}
	})
}

// In a cluster one visitor request is still one trace: the master's spans
// and the slave's share the caller's trace id, and the slave's bridge span
// for the RabbitMQ delivery is a child of the master's span that
// published it.
func TestTraceAcrossNodes(t *testing.T) {
	exportQuickly(t)
	r := newReceiver(t)
	c := newCluster(t, "otlp_endpoint = "+r.endpoint(), "trace_sample_ratio = 1")
	master, slave := c.startPair()
	// The operator works on the slave; the visitor and the chat are on the
	// master.
	v, _, ws, chatID := openChat(t, slave.client, master.client)

	roles := map[string]string{"master": "master", "slave": "slave"}
	bridge := []step{{node: "master", name: "bridge broadcast"}, {node: "slave", name: "bridge inbound"}}
	toSlave := steps(visitorSteps("master"), bridge, operatorSteps("slave"))
	toMaster := steps(visitorSteps("master"), operatorSteps("master"))
	message := steps(messageSteps("master"), persistedStep("master"), bridge, operatorSteps("slave"))
	event := map[string]string{"chatnode.chat_id": chatID, "chatnode.operator_id": "1", "chatnode.visitor_id": v.session}
	ids := map[string]map[string]string{
		"chat visitorChatCall": {"chatnode.visitor_id": v.session},
		"operator ChatEvent":   event,
	}
	check := func(t *testing.T, spans []span, path []span) {
		t.Helper()
		t.Logf("trace %s:\n%s", path[0].TraceID, chainString(path))
		if err := checkAttrs(path, ids); err != nil {
			t.Error(err)
		}
		if err := checkResource(spans, roles); err != nil {
			t.Error(err)
		}
		nodes := map[string]int{}
		for _, s := range spans {
			nodes[s.node()]++
		}
		if nodes["master"] == 0 || nodes["slave"] == 0 || len(nodes) != 2 {
			t.Errorf("spans by node = %v, want spans from the master and the slave only", nodes)
		}
		for i, s := range path {
			if s.node() == "slave" {
				if p := path[i-1]; p.node() != "master" || s.ParentID != p.SpanID {
					t.Errorf("the slave's first span %s has parent %s, want the master's %s", s, s.ParentID, p)
				}
				break
			}
		}
	}

	t.Run("typing", func(t *testing.T) {
		tc := newCaller(true)
		typing(t, v, ws, tc, "Where is my")
		path := waitChain(t, r, tc, toSlave)
		// The master's replica of the operator gets the same event.
		waitChain(t, r, tc, toMaster)
		check(t, r.trace(tc.traceID), path)
	})

	t.Run("message", func(t *testing.T) {
		tc := newCaller(true)
		v.act(t, tc.header(), "chat.message", "message", "Where is my parcel?", "client-side-id", "m-"+tc.spanID)
		ws.waitMessage(t, "Where is my parcel?")
		fence(t, r, v, ws, toSlave)
		spans := r.trace(tc.traceID)
		check(t, spans, messageChain(t, spans, tc, messageSteps("master"), message))
	})

	t.Run("unsampled caller", func(t *testing.T) {
		tc := newCaller(false)
		typing(t, v, ws, tc, "not sampled")
		fence(t, r, v, ws, toSlave)
		if spans := r.trace(tc.traceID); len(spans) > 0 {
			t.Fatalf("a caller's unsampled trace was recorded:\n%s", spanList(spans))
		}
	})
}
