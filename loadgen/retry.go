package loadgen

import (
	"context"
	"math/rand/v2"
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
	wait := 50 * time.Millisecond
	for {
		conn, a, err := ep.dialWS(ctx, path, q)
		if err == nil {
			return conn, nil
		}
		reason := netReason(err)
		if a.status != 0 {
			reason = a.reason()
		}
		if !a.retryable() || r.stopping.Load() {
			return nil, r.fail(stage, reason)
		}
		if err := r.pause(ctx, stage, reason, &wait); err != nil {
			return nil, err
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
