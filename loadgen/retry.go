package loadgen

import (
	"context"
	"math/rand/v2"
	"net"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"
)

// retry makes a setup call, again after a pause while the node answers
// 429 or 503, until ctx ends. Any other failure is recorded under stage.
func (r *runner) retry(ctx context.Context, stage string, call func() (answer, error)) (answer, error) {
	wait := 50 * time.Millisecond
	for {
		a, err := call()
		var reason string
		again := false
		switch {
		case err != nil:
			reason = netReason(err)
		case a.status == fasthttp.StatusOK && errorCode(a.body) == "":
			return a, nil
		default:
			reason, again = a.reason(), a.retryable()
		}
		if !again || r.stopping.Load() {
			return a, r.fail(stage, reason)
		}
		if err := r.pause(ctx, stage, reason, &wait); err != nil {
			return a, err
		}
	}
}

// dialWS opens a WebSocket, again after a pause while the node answers
// 429 or 503.
func (r *runner) dialWS(ctx context.Context, stage string, ep *endpoint, path string, q *fasthttp.Args) (*websocket.Conn, error) {
	var conn *websocket.Conn
	err := r.redial(ctx, stage, func() (answer, error) {
		var a answer
		var err error
		conn, a, err = ep.dialWS(ctx, path, q)
		return a, err
	})
	return conn, err
}

// dialLoopWS is dialWS for a socket the run's wsLoop is to read: it
// returns the connection and what was read past the handshake.
func (r *runner) dialLoopWS(ctx context.Context, stage string, ep *endpoint, path string, q *fasthttp.Args) (net.Conn, []byte, error) {
	var conn net.Conn
	var leftover []byte
	err := r.redial(ctx, stage, func() (answer, error) {
		var a answer
		var err error
		conn, leftover, a, err = ep.dialLoopWS(ctx, path, q.QueryString())
		return a, err
	})
	return conn, leftover, err
}

// redial calls dial until it succeeds, again after a pause while the node
// answers 429 or 503.
func (r *runner) redial(ctx context.Context, stage string, dial func() (answer, error)) error {
	wait := 50 * time.Millisecond
	for {
		a, err := dial()
		if err == nil {
			return nil
		}
		reason := netReason(err)
		if a.status != 0 {
			reason = a.reason()
		}
		if !a.retryable() || r.stopping.Load() {
			return r.fail(stage, reason)
		}
		if err := r.pause(ctx, stage, reason, &wait); err != nil {
			return err
		}
	}
}

// pause waits before a retry, counting it; it fails the stage when ctx
// ends first.
func (r *runner) pause(ctx context.Context, stage, reason string, wait *time.Duration) error {
	r.failMu.Lock()
	r.retried[stage+": "+reason]++
	r.failMu.Unlock()
	d := *wait/2 + rand.N(*wait/2+1)
	*wait = min(2**wait, time.Second)
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return r.fail(stage, reason+"-until-setup-timeout")
	}
}

// stageError is a failure of one client's step.
type stageError struct{ stage, reason string }

func (e *stageError) Error() string { return e.stage + ": " + e.reason }

// fail records a failure outside the message path and returns it.
func (r *runner) fail(stage, reason string) error {
	r.failMu.Lock()
	r.failures[stage+": "+reason]++
	r.failMu.Unlock()
	return &stageError{stage, reason}
}
