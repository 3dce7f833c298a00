package mq

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

func publish(t *testing.T, l *Link, key string, headers map[string]string, body string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id := NewEventID()
	if err := l.Publish(ctx, key, id, headers, []byte(body)); err != nil {
		t.Fatalf("Publish %s: %v", key, err)
	}
	return id
}

func TestRouting(t *testing.T) {
	c := newTestCluster(t)
	a, b := c.dial("a"), c.dial("b")
	ra, rb := newRecorder(), newRecorder()
	if err := a.Consume(ra.handle); err != nil {
		t.Fatal(err)
	}
	if err := b.Consume(rb.handle); err != nil {
		t.Fatal(err)
	}
	if !a.Up() || !b.Up() {
		t.Fatal("links not up after Dial")
	}

	trace := map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "from": "a"}
	toB := publish(t, a, RouteNode("b"), trace, "to b")
	toAll := publish(t, a, RouteAll, nil, "to all")

	waitFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if err := rb.has(toB); err != nil {
			return err
		}
		if err := rb.has(toAll); err != nil {
			return err
		}
		return ra.has(toAll)
	})
	// toB was queued before toAll: had it reached a, it would be there by now.
	if ra.count(toB) != 0 {
		t.Errorf("node a received a message routed to node.b")
	}

	for _, d := range rb.deliveries() {
		switch d.EventID {
		case toB:
			if string(d.Body) != "to b" || d.RoutingKey != "node.b" || d.Redelivered {
				t.Errorf("delivery to b = %+v", d)
			}
			if d.Headers["traceparent"] != trace["traceparent"] || d.Headers["from"] != "a" || len(d.Headers) != 2 {
				t.Errorf("headers = %v, want %v", d.Headers, trace)
			}
		case toAll:
			if string(d.Body) != "to all" || d.RoutingKey != RouteAll || d.Headers != nil {
				t.Errorf("delivery to all = %+v", d)
			}
		default:
			t.Errorf("unexpected delivery %+v", d)
		}
	}
}

// TestRoutePeers publishes with RoutePeers from each of three nodes: the
// other two receive it, the sender does not.
func TestRoutePeers(t *testing.T) {
	c := newTestCluster(t)
	names := []string{"a", "b", "c"}
	links := map[string]*Link{}
	recs := map[string]*recorder{}
	for _, n := range names {
		links[n] = c.dial(n, func(o *Options) { o.Peers = names })
		recs[n] = newRecorder()
		if err := links[n].Consume(recs[n].handle); err != nil {
			t.Fatal(err)
		}
	}
	sent := map[string]string{} // sender → event id
	for _, n := range names {
		sent[n] = publish(t, links[n], RoutePeers(n), nil, "from "+n)
	}
	// A message to a node itself, after its own broadcast: once it is there,
	// the broadcast would be too, had the broker queued it back.
	last := map[string]string{}
	for _, n := range names {
		last[n] = publish(t, links[n], RouteNode(n), nil, "to self")
	}
	waitFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		for _, to := range names {
			if err := recs[to].has(last[to]); err != nil {
				return err
			}
			for _, from := range names {
				if from != to {
					if err := recs[to].has(sent[from]); err != nil {
						return fmt.Errorf("%s from %s: %w", to, from, err)
					}
				}
			}
		}
		return nil
	})
	for _, n := range names {
		if recs[n].count(sent[n]) != 0 {
			t.Errorf("node %s received its own RoutePeers message", n)
		}
	}
}

func TestNodeNameTaken(t *testing.T) {
	c := newTestCluster(t)
	a := c.dial("a")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dup, err := Dial(ctx, c.options("a"))
	if err == nil {
		dup.Close()
		t.Fatal("second Dial with the same node name succeeded")
	}
	if !errors.Is(err, ErrNodeNameTaken) {
		t.Fatalf("err = %v, want ErrNodeNameTaken", err)
	}
	if want := "node name a is already running in cluster c"; !strings.Contains(err.Error(), want) {
		t.Errorf("err = %q, want it to say %q", err, want)
	}
	if !a.Up() {
		t.Error("first link went down")
	}

	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if a.Up() {
		t.Error("Up after Close")
	}
	again, err := Dial(ctx, c.options("a"))
	if err != nil {
		t.Fatalf("Dial after Close: %v", err)
	}
	again.Close()
}

func TestDialErrorHidesPassword(t *testing.T) {
	opts := Options{URL: "amqp://user:s3cret@127.0.0.1:1/vh", Cluster: "c", Node: "a"}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := Dial(ctx, opts)
	if err == nil {
		t.Fatal("Dial to a closed port succeeded")
	}
	if strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "127.0.0.1:1/vh") {
		t.Errorf("err = %q: want the broker address and no password", err)
	}
	opts.URL = "amqp://user:s3cret@127.0.0.1:notaport/"
	if _, err := Dial(ctx, opts); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("bad URL: err = %v", err)
	}
}

func TestOptionsValidation(t *testing.T) {
	for _, o := range []Options{
		{Cluster: "", Node: "a"},
		{Cluster: "c", Node: ""},
		{Cluster: "c", Node: "a#"},
		{Cluster: "c*", Node: "a"},
		{Cluster: "c", Node: "a b"},
	} {
		if _, err := Dial(context.Background(), o); err == nil {
			t.Errorf("Dial(%+v) succeeded", o)
		}
	}
}

func TestHandlerErrorRedelivers(t *testing.T) {
	c := newTestCluster(t)
	a := c.dial("a")
	r := newRecorder()
	failed := 0
	r.fail = func(d Delivery) error {
		if failed == 0 {
			failed++
			if d.Redelivered {
				return nil
			}
			return errors.New("not yet")
		}
		return nil
	}
	if err := a.Consume(r.handle); err != nil {
		t.Fatal(err)
	}
	id := publish(t, a, RouteNode("a"), nil, "x")
	waitFor(t, 5*time.Second, 10*time.Millisecond, func() error { return r.has(id) })
	got := r.deliveries()
	if len(got) != 1 || !got[0].Redelivered || got[0].EventID != id {
		t.Fatalf("deliveries = %+v, want one redelivery of %s", got, id)
	}
	if err := a.Consume(r.handle); err == nil {
		t.Error("second Consume succeeded")
	}
}

func TestPublishWaitsForLink(t *testing.T) {
	c := newTestCluster(t)
	a := c.dial("a", func(o *Options) { o.ReconnectMin, o.ReconnectMax = 400*time.Millisecond, 400*time.Millisecond })
	r := newRecorder()
	if err := a.Consume(r.handle); err != nil {
		t.Fatal(err)
	}
	if !a.breakConn() {
		t.Fatal("no connection to break")
	}
	waitFor(t, 2*time.Second, time.Millisecond, func() error {
		if a.Up() {
			return errors.New("still up")
		}
		return nil
	})
	// Sent once the link is back (200-400 ms from now).
	id := publish(t, a, RouteNode("a"), nil, "late")
	if !a.Up() {
		t.Error("Publish returned while the link is down")
	}
	waitFor(t, 5*time.Second, 10*time.Millisecond, func() error { return r.has(id) })
}

func TestPublishTimesOutWhileDown(t *testing.T) {
	c := newTestCluster(t)
	a := c.dial("a", func(o *Options) { o.ReconnectMin, o.ReconnectMax = time.Minute, time.Minute })
	if !a.breakConn() {
		t.Fatal("no connection to break")
	}
	waitFor(t, 2*time.Second, time.Millisecond, func() error {
		if a.Up() {
			return errors.New("still up")
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := a.Publish(ctx, RouteAll, NewEventID(), nil, []byte("x"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Publish took %v", d)
	}
	// Close must not wait for the back-off.
	done := make(chan error, 1)
	go func() { done <- a.Close() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs while the link is down")
	}
	if err := a.Publish(context.Background(), RouteAll, NewEventID(), nil, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close: %v, want ErrClosed", err)
	}
}

func TestHooks(t *testing.T) {
	c := newTestCluster(t)
	counts := make(chan string, 100)
	a := c.dial("a", func(o *Options) {
		o.Hooks = Hooks{
			Published:   func() { counts <- "published" },
			Confirmed:   func(time.Duration) { counts <- "confirmed" },
			Delivered:   func() { counts <- "delivered" },
			Reconnected: func() { counts <- "reconnected" },
			LinkUp:      func(up bool) { counts <- fmt.Sprint("up=", up) },
		}
	})
	r := newRecorder()
	if err := a.Consume(r.handle); err != nil {
		t.Fatal(err)
	}
	id := publish(t, a, RouteNode("a"), nil, "x")
	waitFor(t, 5*time.Second, 10*time.Millisecond, func() error { return r.has(id) })
	a.breakConn()
	want := map[string]bool{"up=true": true, "published": true, "confirmed": true, "delivered": true, "up=false": true, "reconnected": true}
	timeout := time.After(5 * time.Second)
	for len(want) > 0 {
		select {
		case ev := <-counts:
			delete(want, ev)
		case <-timeout:
			t.Fatalf("hooks never called: %v", want)
		}
	}
}

// TestLockRetakenAfterLoss: while a link is down another process takes its
// node name; the link stays down until that process leaves.
func TestLockRetakenAfterLoss(t *testing.T) {
	c := newTestCluster(t)
	a := c.dial("a", func(o *Options) { o.ReconnectMin, o.ReconnectMax = 300*time.Millisecond, 300*time.Millisecond })
	a.breakConn()
	var usurper *Link
	waitFor(t, 2*time.Second, 5*time.Millisecond, func() (err error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		usurper, err = Dial(ctx, c.options("a"))
		return err
	})
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if a.Up() {
			t.Fatal("link came up while its node name is held elsewhere")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := usurper.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Second, 10*time.Millisecond, func() error {
		if !a.Up() {
			return errors.New("link still down")
		}
		return nil
	})
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	c := newTestCluster(t)
	before := runtime.NumGoroutine()
	a := c.dial("a")
	if err := a.Consume(newRecorder().handle); err != nil {
		t.Fatal(err)
	}
	publish(t, a, RouteAll, nil, "x")
	a.breakConn()
	waitFor(t, 3*time.Second, 10*time.Millisecond, func() error {
		if !a.Up() {
			return errors.New("link down")
		}
		return nil
	})
	publish(t, a, RouteAll, nil, "y")
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Second, 10*time.Millisecond, func() error {
		if n := runtime.NumGoroutine(); n > before {
			return fmt.Errorf("%d goroutines, %d before Dial", n, before)
		}
		return nil
	})
}
