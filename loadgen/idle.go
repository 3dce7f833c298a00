package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"
)

// runIdle is idle mode: operators log in, Conns operator WebSockets open
// (several per operator token when Conns exceeds the operators) and stay
// open for the duration; the node's memory is read before and after.
func (r *runner) runIdle(ctx context.Context, progress io.Writer) *Report {
	o := r.o
	rep := newReport(o)
	start := time.Now()
	idle := &IdleReport{Conns: o.Conns}
	rep.Idle = idle
	setupCtx, cancel := context.WithTimeout(ctx, o.SetupTimeout)
	defer cancel()

	online := r.loginOperators(setupCtx)
	rep.Operators.Ready = len(online)
	if len(online) == 0 {
		rep.Notes = append(rep.Notes, "no operator could log in; no socket was opened")
		return r.finishIdle(rep, start, nil)
	}

	debug.FreeOSMemory()
	idle.ServerBeforeBytes = r.mem.sample()
	idle.ClientBeforeBytes = selfRSS()

	// Sockets read by a goroutine each, with small buffers: the client
	// shares the machine with the node.
	dialer := *r.opEP[0].ws
	dialer.ReadBufferSize = 256
	var (
		mu      sync.Mutex
		conns   = make([]*websocket.Conn, 0, o.Conns)
		opened  atomic.Int64
		dropped atomic.Int64
		readers sync.WaitGroup
	)
	stopProgress := ticker(progress, func(*[2]uint64) string {
		return fmt.Sprintf("%5.0fs  open %d of %d  closed early %d", time.Since(start).Seconds(), opened.Load(), o.Conns, dropped.Load())
	})
	openStart := time.Now()
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i := range o.Conns {
		if setupCtx.Err() != nil {
			r.fail("operator-ws", "setup-timeout")
			continue
		}
		sem <- struct{}{}
		op := online[i%len(online)]
		wg.Go(func() {
			defer func() { <-sem }()
			conn, err := r.openIdle(setupCtx, &dialer, op)
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			opened.Add(1)
			readers.Go(func() {
				err := idleRead(conn)
				if !r.stopping.Load() {
					dropped.Add(1)
					r.fail("operator-ws", wsReason(err))
				}
			})
		})
	}
	wg.Wait()
	idle.OpenS = time.Since(openStart).Seconds()
	idle.Opened = int(opened.Load())

	stopMem := make(chan struct{})
	go r.mem.run(stopMem)
	holdStart := time.Now()
	select {
	case <-time.After(o.Duration):
	case <-ctx.Done():
		rep.Interrupted = true
	}
	close(stopMem)
	rep.WindowS = time.Since(holdStart).Seconds()
	idle.HeldS = rep.WindowS
	idle.StillOpen = idle.Opened - int(dropped.Load())
	idle.ServerAfterBytes = r.mem.sample()
	idle.ClientAfterBytes = selfRSS()
	if idle.Opened > 0 {
		if idle.ServerBeforeBytes > 0 && idle.ServerAfterBytes > 0 {
			idle.ServerPerConnBytes = float64(idle.ServerAfterBytes-idle.ServerBeforeBytes) / float64(idle.Opened)
		}
		idle.ClientPerConnBytes = float64(idle.ClientAfterBytes-idle.ClientBeforeBytes) / float64(idle.Opened)
	}
	stopProgress()
	r.stopping.Store(true)
	mu.Lock()
	for _, c := range conns {
		c.Close()
	}
	mu.Unlock()
	waitBounded(&readers, 5*time.Second)
	if r.mem == nil {
		rep.Notes = append(rep.Notes, "server memory not measured: give --pid (or --metrics-url)")
	}
	return r.finishIdle(rep, start, nil)
}

// loginOperators logs every operator in, a few at a time, and returns those
// that succeeded.
func (r *runner) loginOperators(ctx context.Context) []*operator {
	sem := make(chan struct{}, 16)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		online []*operator
	)
	for _, op := range r.operators {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				r.fail("login", "setup-timeout")
				return
			}
			defer func() { <-sem }()
			if op.login1(ctx) == nil {
				mu.Lock()
				online = append(online, op)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return online
}

// login1 logs the operator in and keeps the token.
func (o *operator) login1(ctx context.Context) error {
	args := fasthttp.AcquireArgs()
	defer fasthttp.ReleaseArgs(args)
	args.Set("login", o.login)
	args.Set("password", o.r.o.Password)
	a, err := o.r.retry(ctx, "login", func() (answer, error) { return o.ep.postArgs("/l/o/login", args) })
	if err != nil {
		return err
	}
	var la loginAnswer
	if json.Unmarshal(a.body, &la) != nil || la.AuthToken == "" {
		return o.r.fail("login", "bad-answer")
	}
	o.token, o.id = la.AuthToken, rawInt(la.Operator.ID)
	return nil
}

// openIdle opens one operator WebSocket with d and reads its first frame.
func (r *runner) openIdle(ctx context.Context, d *websocket.Dialer, op *operator) (*websocket.Conn, error) {
	ep := *op.ep
	ep.ws = d
	q := fasthttp.AcquireArgs()
	defer fasthttp.ReleaseArgs(q)
	q.Set("auth-token", op.token)
	q.Set("since", strconv.Itoa(0))
	conn, err := r.dialWS(ctx, "operator-ws", &ep, "/ws/o/delta", q)
	if err != nil {
		return nil, err
	}
	_ = conn.SetReadDeadline(time.Now().Add(r.o.RequestTimeout))
	if _, _, err := conn.NextReader(); err != nil {
		conn.Close()
		return nil, r.fail("operator-ws", wsReason(err))
	}
	_ = conn.SetReadDeadline(time.Time{})
	return conn, nil
}

// idleRead reads and drops frames (answering pings) until the socket
// ends, and returns why it ended.
func idleRead(conn *websocket.Conn) error {
	for {
		_, rd, err := conn.NextReader()
		if err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, rd); err != nil {
			return err
		}
	}
}

// finishIdle fills the rest of an idle run's report.
func (r *runner) finishIdle(rep *Report, start time.Time, _ <-chan struct{}) *Report {
	r.stopping.Store(true)
	r.pollConns.closeAll()
	r.apiConns.closeAll()
	rep.ElapsedS = time.Since(start).Seconds()
	rep.ClientRSSBytes = selfRSS()
	rep.Failures = r.counts(r.failures)
	if len(r.retried) > 0 {
		rep.Retries = r.counts(r.retried)
	}
	rep.ServerMemory = r.mem.report()
	rep.judge()
	return rep
}

// waitBounded waits for wg, at most d.
func waitBounded(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
	}
}
