package main

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestParseGoBench(t *testing.T) {
	out := `goos: linux
pkg: github.com/chatnode/chatnode/mq
cpu: AMD EPYC
BenchmarkPublishConfirm-2   	    5950	     60887 ns/op	     16424 msgs/s	    5321 B/op	     103 allocs/op
--- BENCH: BenchmarkPublishConfirm-2
    time=2026-11-26T15:07:30.762Z level=INFO msg="mq link closed"
BenchmarkRoundTrip/inflight=1-2         	     694	    474284 ns/op	      2108 msgs/s	       458.0 p50-µs	5884 B/op	     121 allocs/op
pkg: github.com/chatnode/chatnode/store
--- SKIP: BenchmarkPostgresApplyEach
    postgres_test.go:60: PostgreSQL is not reachable, skipping
BenchmarkSQLiteWriter64-2    	    2000	     19797 ns/op	        31.25 msgs/commit	     50513 msgs/s
PASS
`
	res, notes := parseGoBench(strings.NewReader(out))
	if len(res) != 3 {
		t.Fatalf("got %d results: %+v", len(res), res)
	}
	rt := res[1]
	if rt.Name != "BenchmarkRoundTrip/inflight=1" || rt.Procs != 2 || rt.Iter != 694 || rt.Pkg != "github.com/chatnode/chatnode/mq" {
		t.Errorf("round trip parsed as %+v", rt)
	}
	if v, ok := rt.get("p50-µs"); !ok || v != 458 {
		t.Errorf("p50-µs = %v, %v", v, ok)
	}
	if res[2].Pkg != "github.com/chatnode/chatnode/store" {
		t.Errorf("package of the last result: %q", res[2].Pkg)
	}
	if len(notes) != 1 || notes[0].Kind != "SKIP" || notes[0].Name != "BenchmarkPostgresApplyEach" ||
		notes[0].Reason != "PostgreSQL is not reachable, skipping" {
		t.Errorf("notes: %+v", notes)
	}
}

func TestSeriesBusiest(t *testing.T) {
	dir := t.TempDir()
	var node, sys strings.Builder
	// 40 s sampled twice a second; the process uses 1.5 cores (100 ticks a
	// second) from 10 s to 25 s and nothing otherwise; the machine has 2
	// cores and is busy only with it.
	ticks, busy, all := 0.0, 0.0, 0.0
	for i := 0; i <= 80; i++ {
		ts := 1000 + float64(i)/2
		if i > 0 && ts > 1010 && ts <= 1025 {
			ticks += 75
			busy += 75
		}
		if i > 0 {
			all += 100
		}
		node.WriteString(strings.Join([]string{ftoa(ts), ftoa(ticks), "0", "1000"}, " ") + "\n")
		sys.WriteString(strings.Join([]string{ftoa(ts), ftoa(busy), ftoa(all)}, " ") + "\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "n.txt"), []byte(node.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "s.txt"), []byte(sys.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	n, s := readSeries(filepath.Join(dir, "n.txt")), readSeries(filepath.Join(dir, "s.txt"))
	t0, t1, ok := n.busiest(15)
	if !ok || math.Abs(t0-1010) > 0.01 || math.Abs(t1-1025) > 0.01 {
		t.Fatalf("busiest window %v..%v %v, want 1010..1025", t0, t1, ok)
	}
	d, dt, _ := n.delta(t0, t1)
	if cores := d / 100 / dt; math.Abs(cores-1.5) > 0.01 {
		t.Errorf("process cores %v, want 1.5", cores)
	}
	b, _, _ := s.delta(t0, t1)
	a, _, _ := s.deltaB(t0, t1)
	if cores := b / a * 2; math.Abs(cores-1.5) > 0.01 {
		t.Errorf("machine cores %v, want 1.5", cores)
	}
	if n.peak != 1000 {
		t.Errorf("peak %d", n.peak)
	}
}

func ftoa(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func TestCalibrate(t *testing.T) {
	var out strings.Builder
	if err := calibrate([]string{"--prefix", "calib_start_", "--syscalls", "1000", "--round-trips", "200", "--bounces", "1000"}, &out); err != nil {
		t.Fatal(err)
	}
	m := meta{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("line %q is not key=value", line)
		}
		m[k] = append(m[k], v)
	}
	// The processor time of a short run may round to 0, and the cache line
	// is not timed with one processor.
	for _, k := range []string{"calib_start_syscall_ns", "calib_start_loopback_rtt_us", "calib_start_loopback_cpu_us", "calib_start_cross_core_ns"} {
		v, err := strconv.ParseFloat(m.get(k), 64)
		if err != nil || v < 0 || v == 0 && (k == "calib_start_syscall_ns" || k == "calib_start_loopback_rtt_us") {
			t.Errorf("%s = %q", k, m.get(k))
		}
	}
	if len(m) != 4 {
		t.Errorf("printed %v", m)
	}
	if err := calibrate([]string{"--round-trips", "0"}, &out); err == nil {
		t.Error("--round-trips 0 was accepted")
	}
}
