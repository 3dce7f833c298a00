package loadgen

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
)

// runner is one run: its clients, ledgers and counters.
type runner struct {
	o     *Options
	epoch time.Time
	text  string // every message's text

	msgs    *ledger // visitor → operator
	replies *ledger // operator → visitor
	assign  Histogram

	apiConns  *connTracker // requests and WebSockets
	pollConns *connTracker // long polls
	visitorEP []*endpoint
	opEP      []*endpoint

	operators []*operator
	online    atomic.Int64   // operators set up
	ours      map[int64]bool // ids of the operators set up; read-only once visitors start
	visitors  []*visitor
	nReady    atomic.Int64
	readyCh   chan *visitor

	loop *wsLoop // reads the plain WebSockets; nil: a goroutine reads each

	replyJobs chan replyJob
	replyBusy atomic.Int64 // queued or being sent
	replyStop chan struct{}
	replyWG   sync.WaitGroup
	replySkip atomic.Uint64 // not sent: the queue was full

	skippedInflight  atomic.Uint64
	skippedNoVisitor atomic.Uint64
	offered          atomic.Uint64
	inflight         atomic.Int64

	stopping    atomic.Bool
	cancelSetup context.CancelFunc // ends visitor setups still running
	mem         *memWatch
	t0          time.Time // sending began

	failMu   sync.Mutex
	failures map[string]uint64 // "stage: reason" outside the message path
	retried  map[string]uint64 // setup calls tried again
}

func newRunner(o *Options) (*runner, error) {
	r := &runner{
		o:         o,
		epoch:     time.Now(),
		text:      strings.Repeat("x", o.MessageSize),
		apiConns:  newConnTracker(),
		pollConns: newConnTracker(),
		failures:  map[string]uint64{},
		retried:   map[string]uint64{},
		mem:       newMemWatch(o.PID, o.MetricsURL),
		replyStop: make(chan struct{}),
	}
	r.msgs = newLedger("cl"+o.RunID+"-", r.epoch)
	r.replies = newLedger("cl"+o.RunID+"-r", r.epoch)
	per := func(clients, urls int) int { return (clients + urls - 1) / urls }
	apiConns := o.Inflight + 64
	if o.Reply {
		apiConns += o.Inflight
	}
	pollConns := 1
	if o.Mode == ModeChat && o.VisitorTransport == TransportLongPoll {
		pollConns = per(o.Visitors, len(o.VisitorURLs)) + 16
	}
	for _, u := range o.VisitorURLs {
		ep, err := newEndpoint(u, apiConns, pollConns, o.RequestTimeout, r.apiConns, r.pollConns)
		if err != nil {
			return nil, err
		}
		r.visitorEP = append(r.visitorEP, ep)
	}
	for _, u := range o.OperatorURLs {
		ep, err := newEndpoint(u, apiConns, 1, o.RequestTimeout, r.apiConns, r.pollConns)
		if err != nil {
			return nil, err
		}
		r.opEP = append(r.opEP, ep)
	}
	logins := o.OperatorLogins
	if len(logins) == 0 {
		for i := 1; i <= o.Operators; i++ {
			logins = append(logins, o.OperatorLoginPrefix+strconv.Itoa(i))
		}
	}
	for i, l := range logins {
		r.operators = append(r.operators, &operator{r: r, idx: i, login: l, ep: r.opEP[i%len(r.opEP)]})
	}
	return r, nil
}

// Run performs the run o describes against the node and returns its
// report. It returns an error only when the run cannot take place (bad
// options, the node's process not found); failures met while running are
// in the report. progress, when not nil, gets a line each second that
// rewrites itself with \r. Run returns within Options' bounds: setup
// timeout, duration, drain and a few seconds to close connections.
func Run(ctx context.Context, o *Options, progress io.Writer) (*Report, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.PID != 0 {
		if _, err := ReadRSS(o.PID); err != nil {
			return nil, fmt.Errorf("--pid %d: %w", o.PID, err)
		}
	}
	if o.Mode == ModeIdle {
		if err := ensureFiles(o.Conns + o.Operators + 256); err != nil {
			return nil, err
		}
	} else {
		need := o.Visitors + o.Inflight + 2*o.Operators + 256
		if o.Reply {
			need += o.Inflight
		}
		if err := ensureFiles(need); err != nil {
			return nil, err
		}
	}
	r, err := newRunner(o)
	if err != nil {
		return nil, err
	}
	if o.Mode == ModeIdle {
		return r.runIdle(ctx, progress), nil
	}
	return r.runChat(ctx, progress), nil
}

// runChat is chat mode: operators online, visitors chatting, messages at
// the rate for the duration, then the drain.
func (r *runner) runChat(ctx context.Context, progress io.Writer) *Report {
	o := r.o
	rep := newReport(o)
	start := time.Now()
	r.mem.sample()
	stopMem := make(chan struct{})
	go r.mem.run(stopMem)
	defer close(stopMem)

	if l, err := newWSLoop(); err == nil {
		r.loop = l
	} else {
		rep.Notes = append(rep.Notes, "WebSockets are read by a goroutine each: "+err.Error())
	}
	setupCtx, cancel := context.WithTimeout(ctx, o.SetupTimeout)
	defer cancel()
	r.setupOperators(setupCtx)
	r.ours = map[int64]bool{}
	for _, op := range r.operators {
		if op.online {
			r.ours[op.id] = true
		}
	}
	if r.online.Load() == 0 {
		rep.Notes = append(rep.Notes, "no operator came online; no visitor was started")
		return r.finish(rep, start, nil)
	}

	r.readyCh = make(chan *visitor, o.Visitors)
	r.visitors = make([]*visitor, o.Visitors)
	for i := range r.visitors {
		r.visitors[i] = &visitor{r: r, idx: i, ep: r.visitorEP[i%len(r.visitorEP)]}
	}
	if o.Reply {
		r.replyJobs = make(chan replyJob, 4*o.Inflight)
		for range o.Inflight {
			r.replyWG.Go(r.replyWorker)
		}
	}
	t0 := time.Now()
	visitorCtx, cancelVisitors := context.WithTimeout(ctx, o.SetupTimeout+o.RampUp)
	defer cancelVisitors()
	r.cancelSetup = cancelVisitors
	visitorsDone := make(chan struct{})
	go func() {
		r.setupVisitors(visitorCtx, t0)
		close(visitorsDone)
	}()
	if o.RampUp == 0 {
		// Sending starts once every visitor is chatting, or as many as the
		// operators took.
		r.awaitVisitors(visitorCtx, visitorsDone)
		t0 = time.Now()
	}
	rep.Visitors.ReadyAtStart = int(r.nReady.Load())
	if o.RampUp == 0 && r.nReady.Load() == 0 {
		rep.Notes = append(rep.Notes, "no visitor reached a chatting chat; nothing was sent")
		return r.finish(rep, start, visitorsDone)
	}

	r.t0 = t0
	stopProgress := r.startProgress(progress)
	cpu := startCPU(o.PID)
	r.schedule(ctx, t0)
	rep.WindowS = time.Since(t0).Seconds()
	rep.CPU = cpu.stop()
	r.drain(ctx)
	stopProgress()
	if ctx.Err() != nil {
		rep.Interrupted = true
	}
	return r.finish(rep, start, visitorsDone)
}

// setupOperators logs the operators in, a few at a time.
func (r *runner) setupOperators(ctx context.Context) {
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, op := range r.operators {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				r.fail("login", "setup-timeout")
				return
			}
			defer func() { <-sem }()
			if op.setup(ctx) == nil {
				op.online = true
				r.online.Add(1)
			}
		})
	}
	wg.Wait()
}

// setupVisitors starts the visitors, spread over the ramp-up when there is
// one.
func (r *runner) setupVisitors(ctx context.Context, t0 time.Time) {
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	n := len(r.visitors)
	for i, v := range r.visitors {
		wg.Go(func() {
			if r.o.RampUp > 0 {
				at := t0.Add(time.Duration(int64(r.o.RampUp) * int64(i) / int64(n)))
				select {
				case <-time.After(time.Until(at)):
				case <-ctx.Done():
				}
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				r.fail("init", "setup-timeout")
				return
			}
			defer func() { <-sem }()
			if ctx.Err() != nil || r.stopping.Load() {
				r.fail("init", "setup-timeout")
				return
			}
			_ = v.setup(ctx)
		})
	}
	wg.Wait()
}

// awaitVisitors waits until the visitors are set up and chatting, or until
// no visitor became ready for a few seconds (the operators are full), or
// the setup timeout.
func (r *runner) awaitVisitors(ctx context.Context, setupDone <-chan struct{}) {
	const patience = 3 * time.Second
	last, lastChange := int64(-1), time.Now()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	done := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-setupDone:
			done, setupDone = true, nil
		case <-t.C:
		}
		n := r.nReady.Load()
		if n == int64(len(r.visitors)) {
			return
		}
		if n != last {
			last, lastChange = n, time.Now()
		}
		if done && time.Since(lastChange) > patience {
			return
		}
	}
}

// becameReady hands a chatting visitor to the scheduler.
func (r *runner) becameReady(v *visitor) {
	r.nReady.Add(1)
	r.readyCh <- v // buffered for every visitor, each sent once
}

// queueReply queues an operator's answer without blocking the reader.
func (r *runner) queueReply(j replyJob) {
	if r.stopping.Load() {
		return
	}
	r.replyBusy.Add(1)
	select {
	case r.replyJobs <- j:
	default:
		r.replyBusy.Add(-1)
		r.replySkip.Add(1)
	}
}

func (r *runner) replyWorker() {
	for {
		select {
		case <-r.replyStop:
			return
		case j := <-r.replyJobs:
			r.sendReply(j)
			r.replyBusy.Add(-1)
		}
	}
}

// drain waits, at most Options.Drain, for accepted messages and answers
// still on their way.
func (r *runner) drain(ctx context.Context) {
	deadline := time.Now().Add(r.o.Drain)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if r.msgs.awaiting.Load() <= 0 && r.replyBusy.Load() == 0 && r.replies.awaiting.Load() <= 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop ends every client: answers, chats (when asked), sockets, polls.
func (r *runner) stop() {
	r.stopping.Store(true)
	close(r.replyStop)
	r.replyWG.Wait()
	if r.o.Mode == ModeChat {
		r.offline(5 * time.Second)
		if r.o.CloseChats {
			r.closeChats(10 * time.Second)
		}
	}
	for _, v := range r.visitors {
		v.close()
	}
	for _, op := range r.operators {
		op.close()
	}
	if r.loop != nil {
		r.loop.close()
	}
	r.pollConns.closeAll()
	r.apiConns.closeAll()
}

// loopFor returns the loop that reads ep's WebSockets, or nil when each
// needs a goroutine of its own (TLS, or no loop).
func (r *runner) loopFor(ep *endpoint) *wsLoop {
	if r.loop == nil || !strings.HasPrefix(ep.wsBase, "ws://") {
		return nil
	}
	return r.loop
}

// socketEnded counts the early end of a client's socket read by the loop
// as a failure of stage and connects again, unless the run is stopping.
func (r *runner) socketEnded(stage, reason string, reconnect func() bool) {
	if r.stopping.Load() {
		return
	}
	r.fail(stage, reason)
	reconnect()
}

// closeSocket ends a client's socket, whether a goroutine of its own reads
// conn or the loop reads s.
func (r *runner) closeSocket(conn *websocket.Conn, s *wsStream) {
	if conn != nil {
		conn.Close()
	}
	if s != nil {
		r.loop.remove(s)
	}
}

// offline sets the operators offline, as people logging off do, so that
// no chat of a later run goes to an operator nobody plays.
func (r *runner) offline(limit time.Duration) {
	deadline := time.Now().Add(limit)
	var wg sync.WaitGroup
	for _, op := range r.operators {
		if !op.online || time.Now().After(deadline) {
			continue
		}
		wg.Go(op.goOffline)
	}
	wg.Wait()
}

// closeChats closes the visitors' chats, a few at a time, within limit.
func (r *runner) closeChats(limit time.Duration) {
	deadline := time.Now().Add(limit)
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for _, v := range r.visitors {
		if time.Now().After(deadline) {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			v.closeChat()
		})
	}
	wg.Wait()
}
