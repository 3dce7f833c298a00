package loadgen

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// WriteTable writes the report for people.
func (rep *Report) WriteTable(w io.Writer) error {
	s := rep.Settings
	targets := strings.Join(rep.VisitorURLs, ",")
	if o := strings.Join(rep.OperatorURLs, ","); o != targets {
		targets = "visitors " + targets + ", operators " + o
	}
	fmt.Fprintf(w, "chatload %s run %s against %s, %.1fs in all\n", rep.Mode, rep.RunID, targets, rep.ElapsedS)
	if rep.Mode == ModeIdle {
		fmt.Fprintf(w, "%d operator sockets over %d operators (%d logged in), held %.0fs\n\n",
			s.Conns, s.Operators, rep.Operators.Ready, rep.WindowS)
		rep.idleTable().write(w)
	} else {
		reply := ""
		if s.Reply {
			reply = ", operators reply"
		}
		if s.Procs > 0 {
			reply += fmt.Sprintf(", chatload on %d processor(s)", s.Procs)
		}
		fmt.Fprintf(w, "%d visitors (%d chatting), %d operators (%d online), %s transport, rate %g/s, inflight %d,\n"+
			"%.1fs of sending (%gs ramp-up) + up to %gs drain, %d-byte messages%s\n\n",
			s.Visitors, rep.Visitors.Ready, s.Operators, rep.Operators.Ready, s.Transport, s.Rate, s.Inflight,
			rep.WindowS, s.RampUpS, s.DrainS, s.MessageSize, reply)
		rep.flowTable().write(w)
		fmt.Fprintln(w)
		rep.latencyTable().write(w)
	}
	fmt.Fprintln(w)
	if m := rep.ServerMemory; m != nil {
		if m.StartBytes == 0 && m.Error != "" {
			fmt.Fprintf(w, "server memory (%s): unavailable: %s\n", m.Source, m.Error)
		} else {
			fmt.Fprintf(w, "server memory (%s): start %s, peak %s, end %s\n", m.Source, mib(m.StartBytes), mib(m.PeakBytes), mib(m.EndBytes))
		}
	} else {
		fmt.Fprintln(w, "server memory: not measured (give --pid or --metrics-url)")
	}
	fmt.Fprintf(w, "client memory: %s\n", mib(rep.ClientRSSBytes))
	if c := rep.CPU; c != nil {
		server := "not measured (give --pid)"
		if c.ServerCores > 0 {
			server = fmt.Sprintf("%.2f cores", c.ServerCores)
		}
		fmt.Fprintf(w, "processor while sending: server %s, client %.2f cores\n", server, c.ClientCores)
	}
	if len(rep.Failures) > 0 {
		fmt.Fprintln(w, "failures:")
		for _, k := range sortedKeys(rep.Failures) {
			fmt.Fprintf(w, "  %-48s %d\n", k, rep.Failures[k])
		}
	}
	if len(rep.Retries) > 0 {
		fmt.Fprintln(w, "retried after 429/503:")
		for _, k := range sortedKeys(rep.Retries) {
			fmt.Fprintf(w, "  %-48s %d\n", k, rep.Retries[k])
		}
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	if rep.OK {
		_, err := fmt.Fprintln(w, "result: ok")
		return err
	}
	fmt.Fprintln(w, "result: NOT OK")
	for _, p := range rep.Problems {
		fmt.Fprintln(w, "  -", p)
	}
	return nil
}

// flowTable is the fate of the messages, one column per direction.
func (rep *Report) flowTable() *table {
	flows := []*Flow{rep.Messages}
	t := &table{}
	head := []string{"", "visitor→operator"}
	if rep.Replies != nil {
		flows = append(flows, rep.Replies)
		head = append(head, "operator→visitor")
	}
	t.add(head...)
	row := func(name string, get func(f *Flow, reply bool) string) {
		cells := []string{name}
		for i, f := range flows {
			cells = append(cells, get(f, i == 1))
		}
		t.add(cells...)
	}
	num := func(get func(*Flow) uint64) func(*Flow, bool) string {
		return func(f *Flow, _ bool) string { return fmt.Sprint(get(f)) }
	}
	row("offered", func(f *Flow, reply bool) string {
		if reply {
			return "-"
		}
		return fmt.Sprint(f.Offered)
	})
	row("sent", num(func(f *Flow) uint64 { return f.Sent }))
	row("accepted", num(func(f *Flow) uint64 { return f.Accepted }))
	row("delivered", num(func(f *Flow) uint64 { return f.Delivered }))
	row("  in chat snapshots", num(func(f *Flow) uint64 { return f.DeliveredInSnapshot }))
	row("duplicates", num(func(f *Flow) uint64 { return f.Duplicates }))
	row("misrouted", num(func(f *Flow) uint64 { return f.Misrouted }))
	row("accepted, not delivered", num(func(f *Flow) uint64 { return f.Undelivered }))
	row("no answer", num(func(f *Flow) uint64 { return f.Unanswered }))
	row("failed", num(func(f *Flow) uint64 { return f.Failed }))
	reasons := map[string]uint64{}
	for _, f := range flows {
		for k, n := range f.FailedBy {
			reasons[k] += n
		}
	}
	for _, k := range sortedKeys(reasons) {
		row("  "+k, num(func(f *Flow) uint64 { return f.FailedBy[k] }))
	}
	row("skipped", func(f *Flow, reply bool) string {
		if reply {
			return fmt.Sprint(f.SkippedQueueFull)
		}
		return fmt.Sprint(f.SkippedAtInflight + f.SkippedNoVisitor)
	})
	row("send rate (msg/s)", func(f *Flow, _ bool) string { return fmt.Sprintf("%.0f", f.SendRate) })
	row("throughput (delivered/s)", func(f *Flow, _ bool) string { return fmt.Sprintf("%.0f", f.Throughput) })
	return t
}

// latencyTable is the latency figures.
func (rep *Report) latencyTable() *table {
	t := &table{}
	t.add("latency (ms)", "count", "p50", "p95", "p99", "max")
	lat := func(name string, s Summary) {
		t.add(name, fmt.Sprint(s.Count), ms(s.P50MS), ms(s.P95MS), ms(s.P99MS), ms(s.MaxMS))
	}
	lat("visitor→operator delivery", rep.Messages.Latency)
	lat("visitor send answered", rep.Messages.Ack)
	if rep.Replies != nil {
		lat("operator→visitor delivery", rep.Replies.Latency)
		lat("operator send answered", rep.Replies.Ack)
	}
	if rep.Assignment != nil {
		lat("assignment wait", *rep.Assignment)
	}
	return t
}

func (rep *Report) idleTable() *table {
	t := &table{}
	i := rep.Idle
	if i == nil {
		return t
	}
	t.add("sockets", "asked", "opened", "open at end", "opening took")
	t.add("", fmt.Sprint(i.Conns), fmt.Sprint(i.Opened), fmt.Sprint(i.StillOpen), fmt.Sprintf("%.1fs", i.OpenS))
	t.add("")
	t.add("resident memory", "before", "after", "per socket")
	t.add("server", mib(i.ServerBeforeBytes), mib(i.ServerAfterBytes), kib(i.ServerPerConnBytes))
	t.add("client", mib(i.ClientBeforeBytes), mib(i.ClientAfterBytes), kib(i.ClientPerConnBytes))
	return t
}

// table lays out rows: the first column left-aligned, the others right.
type table struct{ rows [][]string }

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(w io.Writer) {
	var width []int
	for _, r := range t.rows {
		for i, c := range r {
			if i >= len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for _, r := range t.rows {
		var b strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i == 0 {
				b.WriteString(c + pad)
			} else {
				b.WriteString("  " + pad + c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

func ms(v float64) string { return fmt.Sprintf("%.2f", v) }
