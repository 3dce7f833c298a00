package main

import (
	"bufio"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// benchResult is one result line of `go test -bench`.
type benchResult struct {
	Pkg     string
	Name    string // without the -GOMAXPROCS suffix
	Procs   int
	Iter    int64
	Metrics []metric // in the order printed
}

type metric struct {
	Value float64
	Unit  string
}

// get returns the value of the metric with unit, if reported.
func (r benchResult) get(unit string) (float64, bool) {
	for _, m := range r.Metrics {
		if m.Unit == unit {
			return m.Value, true
		}
	}
	return 0, false
}

// benchNote is a benchmark that skipped or failed, with its reason.
type benchNote struct {
	Pkg    string
	Name   string
	Kind   string // SKIP or FAIL
	Reason string
}

var (
	benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-(\d+))?\s+(\d+)\s+(.+)$`)
	noteLine  = regexp.MustCompile(`^\s*--- (SKIP|FAIL): (Benchmark\S+)`)
	// t.Skipf reasons are printed indented, as "file_test.go:NN: reason".
	reasonLine = regexp.MustCompile(`^\s+\S+\.go:\d+: (.+)$`)
)

// parseGoBench reads the text output of `go test -bench` (possibly for
// several packages, possibly with log lines in between).
func parseGoBench(r io.Reader) ([]benchResult, []benchNote) {
	var results []benchResult
	var notes []benchNote
	pkg := ""
	var open *benchNote // a SKIP/FAIL waiting for its reason
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			open = nil
			continue
		}
		if m := noteLine.FindStringSubmatch(line); m != nil {
			notes = append(notes, benchNote{Pkg: pkg, Name: trimProcs(m[2]), Kind: m[1]})
			open = &notes[len(notes)-1]
			continue
		}
		if open != nil {
			if m := reasonLine.FindStringSubmatch(line); m != nil && open.Reason == "" {
				open.Reason = strings.TrimSpace(m[1])
				continue
			}
			if !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "\t") {
				open = nil
			}
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		iter, err := strconv.ParseInt(m[3], 10, 64)
		if err != nil {
			continue
		}
		res := benchResult{Pkg: pkg, Name: m[1], Iter: iter}
		res.Procs, _ = strconv.Atoi(m[2])
		fields := strings.Fields(m[4])
		for i := 0; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				break
			}
			res.Metrics = append(res.Metrics, metric{Value: v, Unit: fields[i+1]})
		}
		if len(res.Metrics) > 0 {
			results = append(results, res)
		}
	}
	return results, notes
}

func trimProcs(name string) string {
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			return name[:i]
		}
	}
	return name
}
