package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"
)

// Report is what a run measured. Its JSON form is what --json prints.
type Report struct {
	Mode         string   `json:"mode"`
	RunID        string   `json:"run_id"`
	VisitorURLs  []string `json:"visitor_urls"`
	OperatorURLs []string `json:"operator_urls"`
	Settings     Settings `json:"settings"`
	ElapsedS     float64  `json:"elapsed_s"`     // the whole run, setup included
	WindowS      float64  `json:"send_window_s"` // messages were sent (chat) or sockets held (idle)
	Interrupted  bool     `json:"interrupted,omitempty"`

	Operators Clients `json:"operators"`
	Visitors  Clients `json:"visitors"`

	Messages   *Flow    `json:"messages,omitempty"` // visitor → operator
	Replies    *Flow    `json:"replies,omitempty"`  // operator → visitor, with --reply
	Assignment *Summary `json:"assignment_wait,omitempty"`

	// Failures outside the message path, by "stage: reason": logins,
	// inits, connects, sockets that closed early.
	Failures map[string]uint64 `json:"failures"`
	// Retries are setup calls tried again after 429 or 503.
	Retries map[string]uint64 `json:"retries,omitempty"`

	ServerMemory   *MemoryReport `json:"server_memory,omitempty"`
	CPU            *CPUReport    `json:"cpu,omitempty"` // over the send window
	ClientRSSBytes int64         `json:"client_rss_bytes"`
	Idle           *IdleReport   `json:"idle,omitempty"`

	Notes []string `json:"notes,omitempty"`
	// Problems say why the run is not clean; OK is true when there are
	// none.
	Problems []string `json:"problems"`
	OK       bool     `json:"ok"`
}

// Settings echo the options that shaped the run.
type Settings struct {
	Visitors    int     `json:"visitors,omitempty"`
	Operators   int     `json:"operators"`
	Rate        float64 `json:"rate,omitempty"`
	Inflight    int     `json:"inflight,omitempty"`
	DurationS   float64 `json:"duration_s"`
	RampUpS     float64 `json:"ramp_up_s,omitempty"`
	DrainS      float64 `json:"drain_s,omitempty"`
	MessageSize int     `json:"message_size,omitempty"`
	Transport   string  `json:"visitor_transport,omitempty"`
	Reply       bool    `json:"reply,omitempty"`
	Conns       int     `json:"conns,omitempty"`
	Procs       int     `json:"procs,omitempty"` // chatload's GOMAXPROCS when set
}

// Clients counts the clients asked for and those that got going.
type Clients struct {
	Requested    int `json:"requested"`
	Ready        int `json:"ready"`                    // online operators; chatting visitors
	ReadyAtStart int `json:"ready_at_start,omitempty"` // visitors chatting when sending began
}

// Flow is the fate of one direction's messages.
type Flow struct {
	Offered             uint64            `json:"offered,omitempty"` // due at the rate
	Sent                uint64            `json:"sent"`
	Accepted            uint64            `json:"accepted"`  // answered ok
	Delivered           uint64            `json:"delivered"` // its frame was received and matched
	DeliveredInSnapshot uint64            `json:"delivered_in_snapshot"`
	Duplicates          uint64            `json:"duplicates"` // extra add frames for a delivered message
	Misrouted           uint64            `json:"misrouted"`  // frames on someone else's stream
	Undelivered         uint64            `json:"undelivered"`
	Unanswered          uint64            `json:"unanswered"`
	Failed              uint64            `json:"failed"`
	FailedBy            map[string]uint64 `json:"failed_by"`
	DeliveredAfterFail  uint64            `json:"delivered_after_failed_send,omitempty"`
	SkippedAtInflight   uint64            `json:"skipped_at_inflight,omitempty"`
	SkippedNoVisitor    uint64            `json:"skipped_no_visitor,omitempty"`
	SkippedQueueFull    uint64            `json:"skipped_queue_full,omitempty"`
	ReceivedFrames      uint64            `json:"received_frames,omitempty"` // add frames of this run's messages on operator sockets
	SendRate            float64           `json:"send_rate_per_s"`
	Throughput          float64           `json:"throughput_per_s"` // delivered a second
	Latency             Summary           `json:"latency"`          // send start → frame received
	Ack                 Summary           `json:"ack_latency"`      // send start → answer received
}

// IdleReport is what idle mode measured.
type IdleReport struct {
	Conns              int     `json:"conns"`
	Opened             int     `json:"opened"`
	OpenS              float64 `json:"open_s"` // to open them all
	HeldS              float64 `json:"held_s"`
	StillOpen          int     `json:"still_open"` // at the end of the hold
	ServerBeforeBytes  int64   `json:"server_rss_before_bytes"`
	ServerAfterBytes   int64   `json:"server_rss_after_bytes"`
	ServerPerConnBytes float64 `json:"server_bytes_per_conn"`
	ClientBeforeBytes  int64   `json:"client_rss_before_bytes"`
	ClientAfterBytes   int64   `json:"client_rss_after_bytes"`
	ClientPerConnBytes float64 `json:"client_bytes_per_conn"`
}

func newReport(o *Options) *Report {
	r := &Report{
		Mode:         o.Mode,
		RunID:        o.RunID,
		VisitorURLs:  o.VisitorURLs,
		OperatorURLs: o.OperatorURLs,
		Settings: Settings{
			Operators: o.Operators,
			DurationS: o.Duration.Seconds(),
		},
		Operators: Clients{Requested: o.Operators},
	}
	if o.Mode == ModeIdle {
		r.Settings.Conns = o.Conns
		return r
	}
	r.Settings.Visitors = o.Visitors
	r.Settings.Rate = o.Rate
	r.Settings.Inflight = o.Inflight
	r.Settings.Procs = o.Procs
	r.Settings.RampUpS = o.RampUp.Seconds()
	r.Settings.DrainS = o.Drain.Seconds()
	r.Settings.MessageSize = o.MessageSize
	r.Settings.Transport = o.VisitorTransport
	r.Settings.Reply = o.Reply
	r.Visitors.Requested = o.Visitors
	return r
}

// finish stops the clients and fills the report of a chat run.
// setupDone, when not nil, is closed once the visitors' setup has ended.
func (r *runner) finish(rep *Report, start time.Time, setupDone <-chan struct{}) *Report {
	r.mem.sample()
	rep.ClientRSSBytes = selfRSS()
	rep.Operators.Ready = int(r.online.Load())
	rep.Visitors.Ready = int(r.nReady.Load())
	r.stopping.Store(true)
	if r.cancelSetup != nil {
		r.cancelSetup()
	}
	if setupDone != nil {
		select {
		case <-setupDone:
		case <-time.After(r.o.RequestTimeout):
		}
	}
	r.stop()
	rep.ElapsedS = time.Since(start).Seconds()

	window := time.Duration(rep.WindowS * float64(time.Second))
	rep.Messages = r.flow(r.msgs, window)
	rep.Messages.Offered = r.offered.Load()
	rep.Messages.SkippedAtInflight = r.skippedInflight.Load()
	rep.Messages.SkippedNoVisitor = r.skippedNoVisitor.Load()
	for _, op := range r.operators {
		rep.Messages.ReceivedFrames += op.received.Load()
	}
	if r.o.Reply {
		rep.Replies = r.flow(r.replies, window)
		rep.Replies.SkippedQueueFull = r.replySkip.Load()
	}
	if r.assign.Count() > 0 {
		s := r.assign.Summary()
		rep.Assignment = &s
	}
	rep.Failures = r.counts(r.failures)
	if len(r.retried) > 0 {
		rep.Retries = r.counts(r.retried)
	}
	rep.ServerMemory = r.mem.report()
	rep.judge()
	return rep
}

// flow tallies a ledger. Throughput counts deliveries over the send
// window, or up to the last delivery when that came later.
func (r *runner) flow(l *ledger, window time.Duration) *Flow {
	t := l.count()
	f := &Flow{
		Sent:                t.Sent,
		Accepted:            t.Accepted,
		Delivered:           t.Delivered,
		DeliveredInSnapshot: l.inSnapshot.Load(),
		Duplicates:          l.duplicates.Load(),
		Misrouted:           l.misrouted.Load(),
		Undelivered:         t.Undelivered,
		Unanswered:          t.Unanswered,
		Failed:              t.Failed,
		FailedBy:            t.FailedBy,
		DeliveredAfterFail:  t.LateDelivered,
		Latency:             l.latency.Summary(),
		Ack:                 l.ack.Summary(),
	}
	if window > 0 {
		f.SendRate = float64(t.Sent) / window.Seconds()
		span := window
		if r.t0 != (time.Time{}) {
			if last := time.Duration(l.lastDeliv.Load()) - r.t0.Sub(r.epoch); last > span {
				span = last
			}
		}
		f.Throughput = float64(t.Delivered) / span.Seconds()
	}
	return f
}

// judge lists what makes the run unclean.
func (rep *Report) judge() {
	var ps []string
	add := func(format string, args ...any) { ps = append(ps, fmt.Sprintf(format, args...)) }
	var failures uint64
	for _, n := range rep.Failures {
		failures += n
	}
	if failures > 0 {
		add("%d client failures outside the message path (see failures)", failures)
	}
	if rep.Mode == ModeIdle {
		if i := rep.Idle; i != nil && i.Opened < i.Conns {
			add("opened %d of %d sockets", i.Opened, i.Conns)
		}
		if i := rep.Idle; i != nil && i.StillOpen < i.Opened {
			add("%d sockets closed before the end of the hold", i.Opened-i.StillOpen)
		}
	} else {
		if rep.Visitors.Ready < rep.Visitors.Requested && rep.Operators.Ready > 0 {
			add("only %d of %d visitors got an operator", rep.Visitors.Ready, rep.Visitors.Requested)
		}
		flowProblems(add, "message", rep.Messages)
		if rep.Messages != nil && rep.Messages.Delivered == 0 {
			add("no message was delivered")
		}
		flowProblems(add, "reply", rep.Replies)
		rep.skipNotes()
	}
	if rep.Interrupted {
		add("interrupted")
	}
	rep.Problems = ps
	if rep.Problems == nil {
		rep.Problems = []string{}
	}
	rep.OK = len(ps) == 0
}

// skipNotes explains sends the load generator held back. They are not
// failures of the node, but they mean the rate asked for was not offered.
func (rep *Report) skipNotes() {
	if f := rep.Messages; f != nil {
		if f.SkippedAtInflight > 0 {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%d sends skipped: --inflight %d sends were waiting for answers (the node did not keep up with --rate %g)",
				f.SkippedAtInflight, rep.Settings.Inflight, rep.Settings.Rate))
		}
		if f.SkippedNoVisitor > 0 {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%d sends skipped: no visitor was chatting yet", f.SkippedNoVisitor))
		}
	}
	if f := rep.Replies; f != nil && f.SkippedQueueFull > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d replies not sent: %d answers were queued or being sent already", f.SkippedQueueFull, 5*rep.Settings.Inflight))
	}
}

func flowProblems(add func(string, ...any), what string, f *Flow) {
	if f == nil {
		return
	}
	if f.Failed > 0 {
		add("%d %s sends failed", f.Failed, what)
	}
	if f.Undelivered > 0 {
		add("%d accepted %ss were not delivered within the drain", f.Undelivered, what)
	}
	if f.Unanswered > 0 {
		add("%d %s sends got no answer", f.Unanswered, what)
	}
	if f.Duplicates > 0 {
		add("%d duplicate %s frames", f.Duplicates, what)
	}
	if f.Misrouted > 0 {
		add("%d %ss reached the wrong stream", f.Misrouted, what)
	}
}

// WriteJSON writes the report as one JSON object and a newline.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

func mib(b int64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

func kib(b float64) string { return fmt.Sprintf("%.2f KiB", b/1024) }

// counts returns a copy of one of the runner's failure maps.
func (r *runner) counts(m map[string]uint64) map[string]uint64 {
	r.failMu.Lock()
	defer r.failMu.Unlock()
	out := make(map[string]uint64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func sortedKeys(m map[string]uint64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
