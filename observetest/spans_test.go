package observetest

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/chatnode/chatnode/internal/testservices"
)

// exportQuickly makes the nodes of the test export ended spans every
// 100 ms instead of every 5 s (the OpenTelemetry SDK's batch delay), so
// that waiting for spans is short. It must come before the nodes start.
func exportQuickly(t *testing.T) {
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
}

// caller is the trace context of a client that calls a node: a W3C
// traceparent with a new trace id and the client's own span id.
type caller struct {
	traceID, spanID string
	sampled         bool
}

func newCaller(sampled bool) caller {
	return caller{traceID: testservices.RandomHex(16), spanID: testservices.RandomHex(8), sampled: sampled}
}

// header is the request header that carries the caller's trace context.
func (c caller) header() http.Header {
	flags := "00"
	if c.sampled {
		flags = "01"
	}
	return http.Header{"Traceparent": {"00-" + c.traceID + "-" + c.spanID + "-" + flags}}
}

// step is what a span of a chain must be: its name and the node that
// recorded it. An optional step may be left out of the chain.
type step struct {
	node, name string
	optional   bool
}

func (s step) String() string {
	if s.optional {
		return "[" + s.node + "] " + s.name + " (optional)"
	}
	return "[" + s.node + "] " + s.name
}

// chain finds, among the spans of one trace, the chain of spans that ends
// at a span named like the last step and runs back, parent by parent, to
// the caller's span; it returns the chain, first span first, and an error
// unless the chain is exactly want.
func chain(spans []span, c caller, want []step) ([]span, error) {
	byID := make(map[string]span, len(spans))
	for _, s := range spans {
		byID[s.SpanID] = s
	}
	last := want[len(want)-1]
	var best []span
	for _, s := range spans {
		if s.Name != last.name || s.node() != last.node {
			continue
		}
		var path []span
		for cur, ok := s, true; ok && len(path) <= len(spans); cur, ok = byID[cur.ParentID] {
			path = append(path, cur)
		}
		slices.Reverse(path)
		if len(path) > 0 && path[0].ParentID == c.spanID && sameSteps(path, want) {
			return path, nil
		}
		if len(path) > len(best) {
			best = path
		}
	}
	if best == nil {
		return nil, fmt.Errorf("no span %s yet in trace %s; it has %d spans:\n%s", last, c.traceID, len(spans), spanList(spans))
	}
	return nil, fmt.Errorf("the chain to %s is\n%s\nwant\n%s\n(the first span's parent must be the caller's span %s)",
		last, chainString(best), stepsString(want), c.spanID)
}

// sameSteps reports whether path is want, optional steps left out or not.
func sameSteps(path []span, want []step) bool {
	if len(want) == 0 {
		return len(path) == 0
	}
	if want[0].optional && sameSteps(path, want[1:]) {
		return true
	}
	return len(path) > 0 && path[0].Name == want[0].name && path[0].node() == want[0].node && sameSteps(path[1:], want[1:])
}

// descendants returns the spans below s among spans.
func descendants(spans []span, s span) []span {
	var out []span
	frontier := []string{s.SpanID}
	for len(frontier) > 0 {
		id := frontier[0]
		frontier = frontier[1:]
		for _, c := range spans {
			if c.ParentID == id {
				out = append(out, c)
				frontier = append(frontier, c.SpanID)
			}
		}
	}
	return out
}

// chainString shows a chain as an indented tree, root first.
func chainString(path []span) string {
	var b strings.Builder
	for i, s := range path {
		fmt.Fprintf(&b, "%s%s\n", strings.Repeat("  ", i+1), s)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func stepsString(want []step) string {
	var b strings.Builder
	for i, s := range want {
		fmt.Fprintf(&b, "%s%s\n", strings.Repeat("  ", i+1), s)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func spanList(spans []span) string {
	var b strings.Builder
	for _, s := range spans {
		fmt.Fprintf(&b, "  %s parent %s\n", s, s.ParentID)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// checkAttrs reports every span of path whose attributes disagree with
// the span model: chatnode.node on every span; on actor spans
// ("<kind> <message>") chatnode.actor.kind equal to the kind; on the spans
// in ids (by name) the given attribute values.
func checkAttrs(path []span, ids map[string]map[string]string) error {
	var errs []error
	for _, s := range path {
		if s.Attrs["chatnode.node"] == "" {
			errs = append(errs, fmt.Errorf("%s: no chatnode.node attribute", s))
		}
		if kind, _, ok := strings.Cut(s.Name, " "); ok && kind != "HTTP" && s.Attrs["chatnode.actor.kind"] != kind {
			errs = append(errs, fmt.Errorf("%s: chatnode.actor.kind = %q, want %q", s, s.Attrs["chatnode.actor.kind"], kind))
		}
		for k, v := range ids[s.Name] {
			if s.Attrs[k] != v {
				errs = append(errs, fmt.Errorf("%s: %s = %q, want %q", s, k, s.Attrs[k], v))
			}
		}
	}
	return errors.Join(errs...)
}

// checkResource reports spans whose resource does not name the node they
// came from: service.name chatnode, service.instance.id and chatnode.node
// the node, chatnode.role its role.
func checkResource(path []span, roles map[string]string) error {
	var errs []error
	for _, s := range path {
		n := s.node()
		want := map[string]string{"service.name": "chatnode", "service.instance.id": n, "chatnode.node": n, "chatnode.role": roles[n]}
		for k, v := range want {
			if s.Resource[k] != v {
				errs = append(errs, fmt.Errorf("%s: resource %s = %q, want %q", s, k, s.Resource[k], v))
			}
		}
	}
	return errors.Join(errs...)
}
