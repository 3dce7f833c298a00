package main

import (
	"bytes"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Targets of docs/product.md section 9.
const (
	targetStandaloneRate = 25000.0 // msg/s
	targetStandaloneP99  = 35.0    // ms
	targetClusterRate    = 12000.0 // msg/s
	targetClusterP99     = 100.0   // ms
	targetIdleBytes      = 10000.0 // bytes per connection (10 KB, KB = 1,000 bytes)
	targetAssignSeconds  = 1.0
)

// The suite's load runs, in report order.
const (
	runStandalone     = "standalone"
	runStandaloneWide = "standalone-1024"
	runCluster        = "cluster"
	runIdle           = "idle"
)

type suite struct {
	dir     string
	machine meta
	runs    map[string]*loadRun
	gobench []goBenchPkg
	notes   string // docs/benchmarks-notes.md, "" when missing
	notesAt string
}

func report(args []string, stderr io.Writer) error {
	flags := flag.NewFlagSet("report", flag.ContinueOnError)
	flags.SetOutput(stderr)
	dir := flags.String("dir", "", "the suite's results directory")
	out := flags.String("out", "docs/benchmarks.md", "report to write")
	notes := flags.String("notes", "docs/benchmarks-notes.md", "hand-written prose sections")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("--dir is required")
	}
	s, err := loadSuite(*dir, *notes)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	s.write(&b)
	tmp := *out + ".tmp"
	if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, *out)
}

func loadSuite(dir, notesPath string) (*suite, error) {
	s := &suite{dir: filepath.Clean(dir), runs: map[string]*loadRun{}, notesAt: notesPath}
	var err error
	if s.machine, err = readMeta(filepath.Join(dir, "machine.env")); err != nil {
		return nil, fmt.Errorf("machine description: %w", err)
	}
	clk, nproc := s.machine.float("clk_tck"), s.machine.float("nproc")
	for _, name := range []string{runStandalone, runStandaloneWide, runCluster, runIdle} {
		r, err := readRun(dir, name, clk, nproc)
		if err != nil {
			return nil, fmt.Errorf("run %s: %w", name, err)
		}
		if r != nil {
			s.runs[name] = r
		}
	}
	if s.gobench, err = readGoBench(dir); err != nil {
		return nil, err
	}
	if b, err := os.ReadFile(notesPath); err == nil {
		s.notes = string(b)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return s, nil
}

// hide replaces the temporary directory in commands and files shown.
func (s *suite) hide(text string) string {
	return strings.ReplaceAll(text, s.dir, "$BENCH_DIR")
}

func (s *suite) write(w io.Writer) {
	m := s.machine
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("# Benchmarks\n\n")
	p("Written by `task bench` (`scripts/bench.sh`); rerun it rather than editing this file.\n")
	p("The prose sections at the end come from `docs/benchmarks-notes.md`.\n")
	p("Every figure below is what that run measured, with the command that produced it.\n")
	p("Targets are those of `docs/product.md` section 9.\n\n")

	p("## Machine\n\n")
	p("| | |\n|---|---|\n")
	p("| date | %s |\n", m.get("date"))
	p("| processors | %s (`nproc`) |\n", m.get("nproc"))
	p("| CPU | %s |\n", m.get("cpu"))
	if kb, err := strconv.ParseFloat(m.get("mem_kb"), 64); err == nil {
		p("| memory | %.1f GiB |\n", kb/(1<<20))
	}
	p("| Go | %s |\n", m.get("go"))
	p("| kernel | %s |\n", m.get("kernel"))
	p("| open files per process | %s |\n", m.get("nofile"))
	p("| load average (1, 5, 15 min) at the start / end of the suite | %s / %s |\n", m.get("loadavg_start"), m.get("loadavg_end"))
	if m.get("calib_start_syscall_ns") != "" {
		p("| a system call (`getpid`), at the start / end of the suite | %s / %s ns |\n",
			m.get("calib_start_syscall_ns"), cmp.Or(m.get("calib_end_syscall_ns"), "?"))
		p("| a 64-byte loopback TCP round trip between two goroutines, at the start / end: wall / processor time | %s / %s µs; %s / %s µs |\n",
			m.get("calib_start_loopback_rtt_us"), m.get("calib_start_loopback_cpu_us"),
			cmp.Or(m.get("calib_end_loopback_rtt_us"), "?"), cmp.Or(m.get("calib_end_loopback_cpu_us"), "?"))
		if cc := m.get("calib_start_cross_core_ns"); cc != "" && cc != "0" {
			p("| a cache line to the other processor and back (two threads, one held on each), at the start / end | %s / %s ns |\n",
				cc, cmp.Or(m.get("calib_end_cross_core_ns"), "?"))
		}
	}
	src := "commit " + m.get("commit")
	if m.get("dirty") == "1" {
		src += ", with uncommitted changes in the working tree"
	}
	p("| source | %s |\n\n", src)
	p("The node and the load generator run on this one machine and share its processors;\n")
	p("all traffic is on loopback. `$BENCH_DIR` below is the suite's temporary directory,\n")
	p("deleted when the suite ends; `$NODE_PID` is the process id of the node started just before\n")
	p("(of the master in the cluster run), whose memory and processor use chatload reads.\n")
	p("The load average shows what else ran on the machine; the load runs also report the processor\n")
	p("time the rest of the machine took while they ran. The system call, the round trip and the\n")
	p("cache line (`benchreport calibrate`) show how dear the kernel and a hand-off between the two\n")
	p("processors were: most of what a message costs beyond the node's own code is system calls,\n")
	p("loopback TCP and goroutines waking each other, so the load runs' figures follow them.\n\n")

	s.writeSummary(w)
	s.writeChatRun(w, runStandalone, "Standalone: visitor message → operator WebSocket")
	s.writeChatRun(w, runStandaloneWide, "Standalone with 1,024 requests in flight")
	s.writeChatRun(w, runCluster, "Cluster: master + slave through RabbitMQ")
	s.writeIdle(w)
	s.writeAssign(w)
	s.writeTracing(w)
	s.writeGoBench(w)
	s.writeNotes(w)
}

// row is one line of the summary table.
type row struct{ figure, target, measured, met string }

func (s *suite) writeSummary(w io.Writer) {
	var rows []row
	rows = append(rows, s.chatRows(runStandalone, "standalone, durable (journal + SQLite), 256 in flight", targetStandaloneRate, targetStandaloneP99)...)
	rows = append(rows, s.chatRows(runCluster, "cluster (master + slave via RabbitMQ, PostgreSQL), 256 in flight", targetClusterRate, targetClusterP99)...)
	rows = append(rows, s.idleRow())
	rows = append(rows, s.assignRow())
	fmt.Fprintf(w, "## Summary\n\n| figure | target | measured | met? |\n|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", r.figure, r.target, r.measured, r.met)
	}
	fmt.Fprintf(w, "\nThroughput is messages delivered to the operators' WebSockets a second over the send window;\n")
	fmt.Fprintf(w, "latency runs from the start of the visitor's send to the arrival of the operator's frame.\n")
	fmt.Fprintf(w, "A figure counts as met only when its run was also clean (every accepted message delivered, no failures).\n\n")
}

// notMeasured says why a run has no figures.
func (s *suite) notMeasured(name string) string {
	r := s.runs[name]
	switch {
	case r == nil:
		return "not measured: the run did not take place"
	case r.Meta.get("status") == "skipped":
		return "not measured: " + r.Meta.get("reason")
	case r.Report == nil:
		reason := r.Meta.get("reason")
		if reason == "" {
			reason = "the load generator printed no report"
		}
		return "not measured: " + reason
	}
	return ""
}

func (s *suite) chatRows(name, what string, rate, p99 float64) []row {
	thr := row{figure: what + ": delivered msg/s", target: "≥ " + thousands(rate) + " msg/s"}
	lat := row{figure: what + ": p99 latency", target: fmt.Sprintf("≤ %s ms", trimFloat(p99))}
	if why := s.notMeasured(name); why != "" || s.runs[name].Report.Messages == nil {
		if why == "" {
			why = "not measured: no message figures in the report"
		}
		thr.measured, thr.met, lat.measured, lat.met = "—", why, "—", why
		return []row{thr, lat}
	}
	rep := s.runs[name].Report
	f := rep.Messages
	thr.measured = thousands(f.Throughput) + " msg/s"
	lat.measured = fmt.Sprintf("%.1f ms (p50 %.1f ms)", f.Latency.P99MS, f.Latency.P50MS)
	clean := rep.OK
	thr.met = metWord(clean && f.Throughput >= rate, clean)
	lat.met = metWord(clean && f.Latency.Count > 0 && f.Latency.P99MS <= p99, clean)
	return []row{thr, lat}
}

func metWord(ok, clean bool) string {
	switch {
	case ok:
		return "yes"
	case !clean:
		return "no (run not clean, see below)"
	}
	return "no"
}

func (s *suite) idleRow() row {
	r := row{figure: "idle operator WebSocket: server RSS per connection at 19,000", target: "≤ 10 KB"}
	if why := s.notMeasured(runIdle); why != "" || s.runs[runIdle].Report.Idle == nil {
		if why == "" {
			why = "not measured: no idle figures in the report"
		}
		r.measured, r.met = "—", why
		return r
	}
	rep := s.runs[runIdle].Report
	id := rep.Idle
	r.figure = fmt.Sprintf("idle operator WebSocket: server RSS per connection at %s", thousands(float64(id.Conns)))
	r.measured = fmt.Sprintf("%.1f KB (%s bytes)", id.ServerPerConnBytes/1000, thousands(id.ServerPerConnBytes))
	clean := rep.OK && id.Opened == id.Conns && id.StillOpen == id.Conns && id.Conns >= 19000
	r.met = metWord(clean && id.ServerPerConnBytes <= targetIdleBytes, clean)
	return r
}

// findBench returns the named benchmark's result.
func (s *suite) findBench(pkgSuffix, name string) (benchResult, bool) {
	for _, p := range s.gobench {
		for _, r := range p.Results {
			if strings.HasSuffix(r.Pkg, pkgSuffix) && r.Name == name {
				return r, true
			}
		}
	}
	return benchResult{}, false
}

func (s *suite) benchWhyMissing(pkgSuffix, name string) string {
	for _, p := range s.gobench {
		if !strings.HasSuffix(p.Meta.get("pkg"), pkgSuffix) {
			continue
		}
		if p.Meta.get("status") == "skipped" {
			return "not measured: " + p.Meta.get("reason")
		}
		for _, n := range p.Notes {
			if n.Name == name {
				return fmt.Sprintf("not measured: %s (%s)", strings.ToLower(n.Kind), n.Reason)
			}
		}
		if p.Meta.get("rc") != "0" {
			return "not measured: `go test` failed (exit " + p.Meta.get("rc") + "), see the Go benchmarks section"
		}
	}
	return "not measured"
}

func (s *suite) assignRow() row {
	r := row{figure: "assignment: 10,000 queued chats → 1,000 operators, through the actors", target: "≤ 1 s"}
	b, ok := s.findBench("/actors", "BenchmarkAssign10kChatsActors")
	ns, ok2 := b.get("ns/op")
	if !ok || !ok2 {
		r.measured, r.met = "—", s.benchWhyMissing("/actors", "BenchmarkAssign10kChatsActors")
		return r
	}
	r.measured = fmt.Sprintf("%.3f s (mean of %d)", ns/1e9, b.Iter)
	r.met = metWord(ns/1e9 <= targetAssignSeconds, true)
	return r
}

func (s *suite) writeCommands(w io.Writer, r *loadRun) {
	files := r.Meta["show_file"]
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(r.Dir, f))
		if err != nil {
			continue
		}
		lang := "ini"
		if strings.HasSuffix(f, ".json") {
			lang = "json"
		}
		fmt.Fprintf(w, "`%s`:\n\n```%s\n%s```\n\n", s.hide(filepath.Join(r.Dir, f)), lang, s.hide(ensureNL(string(b))))
	}
	var cmds []string
	for _, c := range r.Meta["node_cmd"] {
		cmds = append(cmds, s.hide(c)+" &")
	}
	for _, c := range r.Meta["load_cmd"] {
		cmds = append(cmds, s.hide(c))
	}
	if len(cmds) > 0 {
		fmt.Fprintf(w, "```sh\n%s\n```\n\n", strings.Join(cmds, "\n"))
	}
}

func (s *suite) writeRunStatus(w io.Writer, name string) bool {
	r := s.runs[name]
	if why := s.notMeasured(name); why != "" {
		fmt.Fprintf(w, "%s.\n\n", capitalize(why))
		if r != nil && r.JSONErr != nil {
			fmt.Fprintf(w, "The load generator's output could not be read: %v.\n\n", r.JSONErr)
		}
		if r != nil {
			if tail := r.Meta["stderr_tail"]; len(tail) > 0 {
				fmt.Fprintf(w, "Last lines it wrote:\n\n```\n%s\n```\n\n", s.hide(strings.Join(tail, "\n")))
			}
		}
		return false
	}
	return true
}

func (s *suite) writeChatRun(w io.Writer, name, title string) {
	r := s.runs[name]
	if r == nil {
		return
	}
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("## %s\n\n", title)
	for _, line := range r.Meta["about"] {
		p("%s\n", line)
	}
	if len(r.Meta["about"]) > 0 {
		p("\n")
	}
	s.writeCommands(w, r)
	if !s.writeRunStatus(w, name) {
		return
	}
	rep := r.Report
	f := rep.Messages
	p("| | |\n|---|---|\n")
	p("| clients ready | %d of %d operators online, %d of %d visitors chatting |\n", rep.Operators.Ready, rep.Operators.Requested, rep.Visitors.Ready, rep.Visitors.Requested)
	p("| send window | %.1f s (whole run %.1f s) |\n", rep.WindowS, rep.ElapsedS)
	if f != nil {
		p("| **delivered a second** | **%s msg/s** (sent %s msg/s) |\n", thousands(f.Throughput), thousands(f.SendRate))
		p("| messages offered / sent / accepted / delivered | %s / %s / %s / %s |\n", thousands(float64(f.Offered)), thousands(float64(f.Sent)), thousands(float64(f.Accepted)), thousands(float64(f.Delivered)))
		p("| not sent: %d requests already in flight | %s |\n", rep.Settings.Inflight, thousands(float64(f.SkippedAtInflight)))
		p("| undelivered / unanswered / failed / duplicates / misrouted | %d / %d / %d / %d / %d |\n", f.Undelivered, f.Unanswered, f.Failed, f.Duplicates, f.Misrouted)
		p("| **latency** send → operator frame, ms: p50 / p95 / p99 / p99.9 / max | **%s** |\n", latencies(f.Latency))
		p("| answer latency send → `{\"result\":\"ok\"}`, ms: p50 / p95 / p99 / p99.9 / max | %s |\n", latencies(f.Ack))
	}
	if a := rep.Assignment; a != nil {
		p("| assignment wait of the %d chats, ms: p50 / p95 / p99 / max | %.1f / %.1f / %.1f / %.1f |\n", a.Count, a.P50MS, a.P95MS, a.P99MS, a.MaxMS)
	}
	nproc := s.machine.get("nproc")
	if c := rep.CPU; c != nil {
		label := "node"
		if name == runCluster {
			label = "master"
		}
		p("| processor cores used over the send window (of %s): %s / chatload | %.2f / %.2f |\n", nproc, label, c.ServerCores, c.ClientCores)
		if f != nil && f.Throughput > 0 && c.ServerCores > 0 && name != runCluster {
			p("| %s processor time per delivered message | %.0f µs |\n", label, c.ServerCores/f.Throughput*1e6)
		}
	}
	if r.WindowS > 0 {
		p("| sampled from /proc over the %s's busiest %.0f s: processor cores used by ", r.Nodes[0], r.WindowS)
		var who, vals []string
		nodes := 0.0
		for _, n := range r.Nodes {
			who = append(who, n)
			vals = append(vals, fmt.Sprintf("%.2f", r.Use[n].Cores))
			nodes += r.Use[n].Cores
		}
		if r.Machine >= 0 {
			who = append(who, "the whole machine")
			vals = append(vals, fmt.Sprintf("%.2f", r.Machine))
			if rep.CPU != nil {
				other := "everything else on the machine"
				if len(r.Nodes) > 1 {
					other = "everything else (PostgreSQL, RabbitMQ, other processes)"
				}
				who = append(who, other)
				vals = append(vals, fmt.Sprintf("%.2f", max(0, r.Machine-nodes-rep.CPU.ClientCores)))
			}
		}
		p("%s | %s |\n", strings.Join(who, " / "), strings.Join(vals, " / "))
	}
	for _, n := range r.Nodes {
		if len(r.Nodes) > 1 {
			p("| %s: peak resident memory (sampled) | %s |\n", n, mib(r.Use[n].PeakRSSKB*1024))
		}
	}
	if mem := rep.ServerMemory; mem != nil {
		if mem.Error != "" {
			p("| node memory | not read: %s |\n", mem.Error)
		} else {
			label := "node"
			if name == runCluster {
				label = "master"
			}
			p("| %s resident memory read by chatload: start / peak / end | %s / %s / %s |\n", label, mib(mem.StartBytes), mib(mem.PeakBytes), mib(mem.EndBytes))
		}
	}
	p("| chatload resident memory | %s |\n", mib(rep.ClientRSSBytes))
	p("| exit status of chatload | %s |\n\n", r.Meta.get("load_rc"))
	s.writeProblems(w, rep)
	for _, line := range r.Meta["after"] {
		p("%s\n", s.hide(line))
	}
	if len(r.Meta["after"]) > 0 {
		p("\n")
	}
}

func (s *suite) writeProblems(w io.Writer, rep *loadReport) {
	if len(rep.Failures) > 0 {
		keys := sortedKeys(rep.Failures)
		fmt.Fprintf(w, "Failures:\n\n")
		for _, k := range keys {
			fmt.Fprintf(w, "- %s: %d\n", k, rep.Failures[k])
		}
		fmt.Fprintln(w)
	}
	if len(rep.Problems) > 0 {
		fmt.Fprintf(w, "Problems the load generator reported:\n\n")
		for _, pr := range rep.Problems {
			fmt.Fprintf(w, "- %s\n", pr)
		}
		fmt.Fprintln(w)
	}
	if len(rep.Notes) > 0 {
		fmt.Fprintf(w, "Its notes:\n\n")
		for _, n := range rep.Notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
		fmt.Fprintln(w)
	}
}

func (s *suite) writeIdle(w io.Writer) {
	r := s.runs[runIdle]
	if r == nil {
		return
	}
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("## Idle operator WebSockets: memory per connection\n\n")
	for _, line := range r.Meta["about"] {
		p("%s\n", line)
	}
	if len(r.Meta["about"]) > 0 {
		p("\n")
	}
	s.writeCommands(w, r)
	if !s.writeRunStatus(w, runIdle) || r.Report.Idle == nil {
		return
	}
	rep := r.Report
	id := rep.Idle
	p("| | |\n|---|---|\n")
	p("| operators logged in | %d of %d |\n", rep.Operators.Ready, rep.Operators.Requested)
	p("| sockets asked / opened / still open after the hold | %s / %s / %s |\n", thousands(float64(id.Conns)), thousands(float64(id.Opened)), thousands(float64(id.StillOpen)))
	p("| time to open them / held | %.1f s / %.1f s |\n", id.OpenS, id.HeldS)
	p("| node resident memory before / after | %s / %s |\n", mib(id.ServerBeforeBytes), mib(id.ServerAfterBytes))
	p("| **node resident memory per connection** | **%s bytes** |\n", thousands(id.ServerPerConnBytes))
	p("| chatload resident memory before / after (per connection) | %s / %s (%s bytes) |\n", mib(id.ClientBeforeBytes), mib(id.ClientAfterBytes), thousands(id.ClientPerConnBytes))
	p("| exit status of chatload | %s |\n\n", r.Meta.get("load_rc"))
	s.writeProblems(w, rep)
	if b, ok := s.findBench("/server", "BenchmarkIdleOperatorSocket"); ok {
		if v, ok := b.get("bytes/socket"); ok {
			p("In-process cross-check (`BenchmarkIdleOperatorSocket`, heap and stacks after a GC, %s sockets): %s bytes a socket.\n\n", thousands(float64(b.Iter)), thousands(v))
		}
	}
}

func (s *suite) writeAssign(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("## Assignment: 10,000 queued chats → 1,000 operators\n\n")
	p("`BenchmarkAssign10kChatsActors` (actors/bench_test.go): 10,000 chats wait in the assigner's queue, then 1,000 operators\n")
	p("(max_chats 10) come online; the time runs until every chat actor has applied its assignment and answered the assigner.\n")
	p("`BenchmarkAssign10kTo1k` (actors/board_test.go) is the assignment board alone, without actors.\n\n")
	p("| benchmark | runs | time per run | allocated per run |\n|---|---|---|---|\n")
	for _, name := range []string{"BenchmarkAssign10kChatsActors", "BenchmarkAssign10kTo1k"} {
		b, ok := s.findBench("/actors", name)
		ns, ok2 := b.get("ns/op")
		if !ok || !ok2 {
			p("| %s | — | %s | — |\n", name, s.benchWhyMissing("/actors", name))
			continue
		}
		alloc := "—"
		if v, ok := b.get("B/op"); ok {
			alloc = mib(int64(v))
		}
		p("| %s | %d | %s | %s |\n", name, b.Iter, seconds(ns/1e9), alloc)
	}
	p("\nCommand: see the actors row of the Go benchmarks section.\n\n")
}

func (s *suite) writeTracing(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("## Tracing and metrics overhead\n\n")
	p("The load runs above leave `otlp_endpoint` unset, so tracing is off in them (metrics are on).\n")
	p("What tracing would add is measured by the telemetry benchmarks: a message passing through two actors\n")
	p("(a visitor actor, then a chat actor) built with the given options; the time is per message for both hops.\n\n")
	off, okOff := s.benchValue("/telemetry", "BenchmarkReceiveTracingOff/props", "ns/msg")
	p("| configuration | ns per message (2 hops) | added vs tracing off | allocs per message |\n|---|---|---|---|\n")
	rows := []struct{ name, label string }{
		{"BenchmarkReceiveTracingOff/props", "tracing off (what the node wires when otlp_endpoint is unset)"},
		{"BenchmarkReceiveTracingOff/middleware", "tracing off, pass-through middleware installed"},
		{"BenchmarkReceiveTracingOn/untraced", "tracing on, message without trace context"},
		{"BenchmarkReceiveTracingOn/unsampled", "tracing on, trace context not sampled"},
		{"BenchmarkReceiveTracingOn/sampled", "tracing on, sampled (a span per receive)"},
		{"BenchmarkReceiveMetrics/off", "metrics off"},
		{"BenchmarkReceiveMetrics/on", "actor metrics on"},
		{"BenchmarkReceiveMetrics/on+protoactor", "actor metrics and protoactor's own metrics on"},
	}
	found := false
	for _, r := range rows {
		v, ok := s.benchValue("/telemetry", r.name, "ns/msg")
		if !ok {
			continue
		}
		found = true
		added := "—"
		if okOff && strings.HasPrefix(r.name, "BenchmarkReceiveTracing") {
			added = fmt.Sprintf("%+.0f ns", v-off)
		}
		if mOff, ok := s.benchValue("/telemetry", "BenchmarkReceiveMetrics/off", "ns/msg"); ok && strings.HasPrefix(r.name, "BenchmarkReceiveMetrics/on") {
			added = fmt.Sprintf("%+.0f ns (vs metrics off)", v-mOff)
		}
		allocs := "—"
		if a, ok := s.benchValue("/telemetry", r.name, "allocs/op"); ok {
			allocs = trimFloat(a)
		}
		p("| %s | %.0f | %s | %s |\n", r.label, v, added, allocs)
	}
	if !found {
		p("| — | %s | — | — |\n", s.benchWhyMissing("/telemetry", "BenchmarkReceiveTracingOff/props"))
	}
	if f := s.runs[runStandalone]; f != nil && f.Report != nil && f.Report.Messages != nil && f.Report.CPU != nil && f.Report.Messages.Throughput > 0 {
		if v, ok := s.benchValue("/telemetry", "BenchmarkReceiveTracingOn/sampled", "ns/msg"); ok && okOff {
			per := f.Report.CPU.ServerCores / f.Report.Messages.Throughput * 1e9
			p("\nFor scale: the standalone run spent %.0f µs of node processor time per delivered message;\n", per/1000)
			p("a sampled span on each of two actor hops adds %.1f µs.\n", (v-off)/1000)
			p("A message makes more than two actor hops in the node, so the whole-path cost of sampling every trace is a multiple of that.\n")
		}
	}
	p("\n")
}

func (s *suite) benchValue(pkg, name, unit string) (float64, bool) {
	b, ok := s.findBench(pkg, name)
	if !ok {
		return 0, false
	}
	return b.get(unit)
}

func (s *suite) writeGoBench(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("## Go benchmarks\n\n")
	p("Short runs (`-benchtime` fixed per package or group of benchmarks, so that the suite stays short); names drop the `-%s` GOMAXPROCS suffix.\n\n", s.machine.get("nproc"))
	told := map[string]bool{} // packages whose description was written
	for _, pkg := range s.gobench {
		m := pkg.Meta
		p("### %s\n\n", m.get("pkg"))
		p("```sh\n%s\n```\n\n", s.hide(m.get("cmd")))
		if about := pkgAbout[strings.TrimPrefix(m.get("pkg"), "github.com/chatnode/chatnode/")]; about != "" && !told[m.get("pkg")] {
			told[m.get("pkg")] = true
			p("%s\n\n", about)
		}
		if m.get("status") == "skipped" {
			p("Skipped: %s.\n\n", m.get("reason"))
			continue
		}
		if len(pkg.Results) > 0 {
			p("| benchmark | iterations | ns/op | other metrics | B/op | allocs/op |\n|---|---|---|---|---|---|\n")
			for _, r := range pkg.Results {
				var other []string
				ns, bop, allocs := "—", "—", "—"
				for _, mt := range r.Metrics {
					switch mt.Unit {
					case "ns/op":
						ns = thousandsPrec(mt.Value)
					case "B/op":
						bop = thousands(mt.Value)
					case "allocs/op":
						allocs = thousands(mt.Value)
					default:
						other = append(other, thousandsPrec(mt.Value)+" "+mt.Unit)
					}
				}
				o := strings.Join(other, ", ")
				if o == "" {
					o = "—"
				}
				p("| %s | %s | %s | %s | %s | %s |\n", r.Name, thousands(float64(r.Iter)), ns, o, bop, allocs)
			}
			p("\n")
		}
		for _, n := range pkg.Notes {
			reason := n.Reason
			if reason == "" {
				reason = "see the `go test` output"
			}
			p("- %s: %s — %s\n", n.Name, map[string]string{"SKIP": "skipped", "FAIL": "failed"}[n.Kind], reason)
		}
		if len(pkg.Notes) > 0 {
			p("\n")
		}
		if rc := m.get("rc"); rc != "0" {
			p("`go test` exited with status %s", rc)
			if rc == "124" {
				p(" (stopped by the suite's time limit)")
			}
			p(". Last lines of its output:\n\n```\n%s\n```\n\n", tailLines(s.hide(pkg.Output), 15))
		}
	}
}

// pkgAbout says what a package's benchmarks measure.
var pkgAbout = map[string]string{
	"actors": "The assignment of 10,000 queued chats to 1,000 operators, through the actors and on the board alone " +
		"(see the assignment section); one message delta's encoding (`DeltaMessage`); and the actor path of a visitor " +
		"message (`VisitorMessage`: 500 visitors in chats held by 50 operators, 256 messages in flight, each answered and " +
		"pushed to its operator's stream, the store left out; cpu-ns/op is the process's processor time per message).",
	"store": "Message writes with and without batching: `ApplyEach` commits every message alone (one transaction " +
		"and fsync each); `ApplyBatch` commits them 4,096 at a time over 500 chats, about 8 a chat, as the journal's " +
		"applier does at 16,000 messages a second (run on its own, 100,000 messages into a fresh database); `WriterN` has " +
		"N submitters, each waiting for its message to be durable before sending the next, through the group-commit writer. SQLite in a temporary directory; PostgreSQL in a temporary database on " +
		"127.0.0.1 (skipped when PostgreSQL does not answer).",
	"mq": "RabbitMQ on 127.0.0.1 under a random prefix whose objects are deleted afterwards: publish with broker " +
		"confirmation from 64 publishers, and publish-to-consume round trips with 1 and 64 messages in flight.",
	"server": "Every benchmark of the HTTP/WebSocket layer; `BenchmarkIdleOperatorSocket` opens idle operator " +
		"WebSockets in process and reports heap and stacks per socket after a GC.",
	"telemetry": "A message through two actors with tracing off, on (untraced, unsampled, sampled) and with metrics " +
		"(see the tracing section).",
}

func (s *suite) writeNotes(w io.Writer) {
	if s.notes == "" {
		fmt.Fprintf(w, "## What was changed to get here\n\n(`%s` is missing: write it to fill this section.)\n\n", s.notesAt)
		fmt.Fprintf(w, "## What still limits it\n\n(`%s` is missing: write it to fill this section.)\n", s.notesAt)
		return
	}
	// Keep the file from its first second-level heading: anything above
	// it is about the file itself.
	text := s.notes
	if i := strings.Index(text, "\n## "); i >= 0 && !strings.HasPrefix(text, "## ") {
		text = text[i+1:]
	}
	fmt.Fprint(w, ensureNL(strings.TrimSpace(text)))
}

// Formatting helpers.

func thousands(v float64) string {
	neg := v < 0
	if neg {
		v = -v
	}
	s := strconv.FormatFloat(v, 'f', 0, 64)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// thousandsPrec keeps some decimals for small values.
func thousandsPrec(v float64) string {
	switch {
	case v >= 1000 || v <= -1000:
		return thousands(v)
	case v >= 10 || v <= -10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

func trimFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func latencies(s summary) string {
	if s.Count == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f / %.1f / %.1f / %.1f / %.1f", s.P50MS, s.P95MS, s.P99MS, s.P999MS, s.MaxMS)
}

func mib(b int64) string {
	if b <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

func seconds(s float64) string {
	if s < 0.01 {
		return fmt.Sprintf("%.2f ms", s*1000)
	}
	return fmt.Sprintf("%.3f s", s)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func ensureNL(s string) string {
	if strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
