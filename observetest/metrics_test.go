package observetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chatnode/chatnode/internal/testservices"
	"github.com/chatnode/chatnode/internal/testutil"
)

// routes are the route label values a node may report.
var routes = []string{
	"/l/v/m/init", "/l/v/m/delta", "/l/v/m/action", "/l/v/m/history", "/ws/v/delta",
	"/l/o/login", "/l/o/set-status", "/l/o/action", "/l/o/delta", "/l/o/history", "/ws/o/delta",
	"/health", "/metrics", "other",
}

// checks collects the failed expectations about one scrape.
type checks struct {
	s    scrape
	errs []error
}

func (c *checks) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf(format, args...))
}

// value checks that the series of name with labels satisfies ok.
func (c *checks) value(want string, ok func(float64) bool, name string, labels ...string) {
	v, err := c.s.value(name, labels...)
	switch {
	case err != nil:
		c.errs = append(c.errs, err)
	case !ok(v):
		c.fail("%s%v = %g, want %s", name, labels, v, want)
	}
}

func (c *checks) positive(name string, labels ...string) {
	c.value("> 0", func(v float64) bool { return v > 0 }, name, labels...)
}

func (c *checks) atLeast(min float64, name string, labels ...string) {
	c.value(fmt.Sprintf(">= %g", min), func(v float64) bool { return v >= min }, name, labels...)
}

func (c *checks) equal(want float64, name string, labels ...string) {
	c.value(fmt.Sprint(want), func(v float64) bool { return v == want }, name, labels...)
}

// histogram checks that the histogram series of name with labels counts
// at least min observations, that its buckets are cumulative and end at
// lastBound, and that its sum is positive when it counts any.
func (c *checks) histogram(min uint64, lastBound float64, name string, labels ...string) {
	h, err := c.s.histogram(name, labels...)
	if err != nil {
		c.errs = append(c.errs, err)
		return
	}
	if h.GetSampleCount() < min {
		c.fail("%s%v counts %d observations, want at least %d", name, labels, h.GetSampleCount(), min)
	}
	if h.GetSampleCount() > 0 && h.GetSampleSum() <= 0 {
		c.fail("%s%v: sum %g of %d observations", name, labels, h.GetSampleSum(), h.GetSampleCount())
	}
	var prev uint64
	var bounds []float64
	for _, b := range h.GetBucket() {
		if b.GetCumulativeCount() < prev || b.GetCumulativeCount() > h.GetSampleCount() {
			c.fail("%s%v: bucket le=%g counts %d after %d, of %d", name, labels, b.GetUpperBound(), b.GetCumulativeCount(), prev, h.GetSampleCount())
		}
		prev = b.GetCumulativeCount()
		if !math.IsInf(b.GetUpperBound(), 1) {
			bounds = append(bounds, b.GetUpperBound())
		}
	}
	if len(bounds) < 5 || bounds[len(bounds)-1] != lastBound {
		c.fail("%s%v: bucket bounds %v, want at least 5 ending at %g", name, labels, bounds, lastBound)
	}
}

// labelled checks that every chatnode series carries the node's name and
// role.
func (c *checks) labelled(node, role string) {
	for name, f := range c.s {
		if !strings.HasPrefix(name, "chatnode_") {
			continue
		}
		for _, m := range f.GetMetric() {
			if !hasLabels(m, "node", node, "role", role) {
				c.fail("%s %v lacks node=%q role=%q", name, m.GetLabel(), node, role)
			}
		}
	}
}

func (c *checks) report(t *testing.T) {
	t.Helper()
	if err := errors.Join(c.errs...); err != nil {
		t.Error(err)
	}
}

// A standalone node that served chats, messages, sockets and long polls
// reports each of them in /metrics.
func TestMetricsStandalone(t *testing.T) {
	n := startStandalone(t)

	// Two chats wait while nobody is online: one for sales, one with no
	// department.
	sales, other := n.newVisitor(t), n.newVisitor(t)
	sales.act(t, nil, "chat.start", "department-key", "sales", "first-question", "About prices", "client-side-id", "s-1")
	other.act(t, nil, "chat.start", "first-question", "Anyone there?", "client-side-id", "o-1")
	testutil.WaitFor(t, waitTimeout, func() error {
		s := n.scrape(t)
		for _, dept := range []string{"sales", "none"} {
			if v, err := s.value("chatnode_queue_length", "department", dept); err != nil || v != 1 {
				return fmt.Errorf("queue length of %s = %g (%v), want 1", dept, v, err)
			}
		}
		return nil
	})

	// Alice comes online on a WebSocket and gets both; the sales visitor
	// follows the chat on a WebSocket too.
	alice := n.login(t, "alice")
	ows := alice.socket(t)
	alice.setStatus(t, "online")
	salesChat := ows.waitChat(t, 1, sales.session)
	ows.waitChat(t, 1, other.session)
	sales.socket(t)
	testutil.WaitFor(t, waitTimeout, func() error {
		s := n.scrape(t)
		for _, side := range []string{"operator", "visitor"} {
			if v, err := s.value("chatnode_websocket_sessions", "side", side); err != nil || v != 1 {
				return fmt.Errorf("%s WebSocket sessions = %g (%v), want 1", side, v, err)
			}
		}
		return nil
	})

	for i := range 3 {
		sales.act(t, nil, "chat.message", "message", fmt.Sprintf("question %d", i), "client-side-id", fmt.Sprintf("m-%d", i))
	}
	alice.message(t, salesChat, "answer")
	for i := range 3 {
		ows.waitMessage(t, fmt.Sprintf("question %d", i))
	}
	ows.waitMessage(t, "answer")
	if a := n.mustDo(t, http.MethodGet, "/no/such/path", nil, nil); a.Status != http.StatusNotFound {
		t.Fatalf("GET /no/such/path: %s", a)
	}

	s := n.scrape(t)
	c := &checks{s: s}
	c.labelled("standalone", "standalone")
	for _, kind := range []string{"chat", "visitor", "operator", "assigner", "visitors", "chats", "operators"} {
		c.positive("chatnode_actor_messages_total", "kind", kind)
		c.histogram(1, 1, "chatnode_actor_message_seconds", "kind", kind)
		c.equal(0, "chatnode_actor_failures_total", "kind", kind)
	}
	c.equal(0, "chatnode_actor_messages_total", "kind", "bridge")
	for _, kind := range []string{"chat", "visitor", "operator", "assigner", "directory"} {
		c.value("between 0 and 100", func(v float64) bool { return v >= 0 && v <= 100 }, "chatnode_actor_mailbox_depth", "kind", kind)
	}
	// Each of these was sent messages since the previous scrape.
	for _, kind := range []string{"chat", "visitor", "operator"} {
		c.atLeast(1, "chatnode_actor_mailbox_depth_max", "kind", kind)
	}
	c.atLeast(2, "chatnode_actors_live", "kind", "visitor")
	c.atLeast(2, "chatnode_actors_live", "kind", "chat")
	c.equal(2, "chatnode_actors_live", "kind", "operator") // alice and bob
	c.equal(1, "chatnode_actors_live", "kind", "assigner")
	for _, dir := range []string{"visitors", "chats", "operators"} {
		c.equal(1, "chatnode_actors_live", "kind", dir)
	}
	c.histogram(1, 1800, "chatnode_assignment_wait_seconds", "department", "sales")
	c.histogram(1, 1800, "chatnode_assignment_wait_seconds", "department", "none")
	c.equal(0, "chatnode_queue_length", "department", "sales")
	c.equal(0, "chatnode_queue_length", "department", "support")
	c.equal(1, "chatnode_websocket_sessions", "side", "operator")
	c.equal(1, "chatnode_websocket_sessions", "side", "visitor")
	c.histogram(1, 2.5, "chatnode_store_write_seconds")
	c.positive("chatnode_store_writes_total")
	c.value("0 or more", func(v float64) bool { return v >= 0 }, "chatnode_journal_backlog")
	c.value("0 or more", func(v float64) bool { return v >= 0 }, "chatnode_journal_applied_total")
	c.equal(0, "chatnode_journal_apply_failures_total")
	if h, err := s.histogram("chatnode_store_write_seconds"); err == nil {
		c.value("at least one change per batch", func(v float64) bool { return v >= float64(h.GetSampleCount()) }, "chatnode_store_writes_total")
	}
	c.atLeast(5, "chatnode_http_requests_total", "route", "/l/v/m/action", "status", "200")
	c.atLeast(2, "chatnode_http_requests_total", "route", "/l/v/m/init", "status", "200")
	c.atLeast(1, "chatnode_http_requests_total", "route", "/l/o/login", "status", "200")
	c.atLeast(1, "chatnode_http_requests_total", "route", "/l/o/action", "status", "200")
	c.equal(1, "chatnode_http_requests_total", "route", "other", "status", "404")
	c.histogram(5, 60, "chatnode_http_request_seconds", "route", "/l/v/m/action")
	for _, r := range s.labelValues("chatnode_http_requests_total", "route") {
		if !slices.Contains(routes, r) {
			c.fail("chatnode_http_requests_total has route %q, not one of the node's routes", r)
		}
	}
	// A standalone node has the RabbitMQ families, at zero.
	for _, name := range []string{"chatnode_mq_published_total", "chatnode_mq_confirmed_total", "chatnode_mq_delivered_total", "chatnode_mq_link_up"} {
		c.equal(0, name)
	}
	c.positive("go_goroutines")
	c.report(t)

	t.Run("queue length of chats without a department", func(t *testing.T) {
		v, err := s.value("chatnode_queue_length", "department", "none")
		switch {
		case err != nil:
			t.Fatal(err)
		case v != 0:
			t.Fatalf("chatnode_queue_length{department=\"none\"} = %g, want 0", v)
		}
	})

	t.Run("long polls", func(t *testing.T) {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := testservices.Form("page-id", other.pageID, "auth-token", other.authToken, "since", "0")
			for {
				select {
				case <-stop:
					return
				default:
				}
				// The first poll answers at once with the full state;
				// later ones from its revision wait.
				a, err := other.c.do(http.MethodGet, "/l/v/m/delta", q, nil)
				if err != nil {
					return
				}
				var u update
				if json.Unmarshal(a.Body, &u) == nil && u.Revision != 0 {
					q.Set("since", fmt.Sprint(u.Revision))
				}
			}
		}()
		defer func() { close(stop); wg.Wait() }()
		testutil.WaitFor(t, waitTimeout, func() error {
			if v, err := n.scrape(t).value("chatnode_long_polls"); err != nil || v < 1 {
				return fmt.Errorf("long polls = %g (%v), want at least 1", v, err)
			}
			return nil
		})
	})

	t.Run("sessions end", func(t *testing.T) {
		ows.close()
		testutil.WaitFor(t, waitTimeout, func() error {
			if v, err := n.scrape(t).value("chatnode_websocket_sessions", "side", "operator"); err != nil || v != 0 {
				return fmt.Errorf("operator WebSocket sessions = %g (%v), want 0", v, err)
			}
			return nil
		})
	})

	t.Run("dashboard", func(t *testing.T) { checkDashboardMetrics(t, s) })
}

// Cluster nodes report their RabbitMQ link: messages published and
// confirmed, deliveries, the link up; the master reports the queue.
func TestMetricsCluster(t *testing.T) {
	c := newCluster(t)
	master, slave := c.startPair()
	v, alice, ws, chatID := openChat(t, slave.client, master.client)
	v.act(t, nil, "chat.message", "message", "from the visitor", "client-side-id", "v-1")
	alice.message(t, chatID, "from the operator")
	ws.waitMessage(t, "from the visitor")
	ws.waitMessage(t, "from the operator")

	all := scrape{}
	for _, n := range []*testNode{master, slave} {
		var s scrape
		// Confirmations arrive after the publishes they confirm.
		testutil.WaitFor(t, waitTimeout, func() error {
			s = n.scrape(t)
			pub, err1 := s.value("chatnode_mq_published_total")
			conf, err2 := s.value("chatnode_mq_confirmed_total")
			if err := errors.Join(err1, err2); err != nil {
				return err
			}
			if pub == 0 || conf < pub {
				return fmt.Errorf("node %s: %g published, %g confirmed", n.name, pub, conf)
			}
			return nil
		})
		ch := &checks{s: s}
		ch.labelled(n.name, n.name)
		ch.positive("chatnode_mq_delivered_total")
		ch.equal(1, "chatnode_mq_link_up")
		ch.equal(0, "chatnode_mq_nacked_total")
		ch.equal(0, "chatnode_mq_redelivered_total")
		ch.equal(0, "chatnode_mq_reconnects_total")
		ch.histogram(1, 5, "chatnode_mq_confirm_seconds")
		ch.positive("chatnode_actor_messages_total", "kind", "bridge")
		ch.equal(1, "chatnode_actors_live", "kind", "bridge")
		ch.positive("chatnode_actor_messages_total", "kind", "operator")
		if n == master {
			// The master owns the chat and the operator: it writes.
			ch.histogram(1, 2.5, "chatnode_store_write_seconds")
			ch.histogram(1, 1800, "chatnode_assignment_wait_seconds", "department", "none")
			ch.equal(0, "chatnode_queue_length", "department", "sales")
			ch.positive("chatnode_actor_messages_total", "kind", "chat")
		} else {
			ch.equal(1, "chatnode_websocket_sessions", "side", "operator")
			if len(s.series("chatnode_queue_length")) != 0 {
				ch.fail("the slave reports chatnode_queue_length; only the master's assigner knows the queue")
			}
		}
		ch.report(t)
		for name, f := range s {
			all[name] = f
		}
	}
	t.Run("dashboard", func(t *testing.T) { checkDashboardMetrics(t, all) })
}
