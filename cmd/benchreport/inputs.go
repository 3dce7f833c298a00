package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/chatnode/chatnode/loadgen"
)

// meta is a key=value file written by scripts/bench.sh; a key may repeat.
type meta map[string][]string

func readMeta(path string) (meta, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := meta{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok {
			m[k] = append(m[k], v)
		}
	}
	return m, sc.Err()
}

// get returns the last value of key, or "".
func (m meta) get(key string) string {
	if v := m[key]; len(v) > 0 {
		return v[len(v)-1]
	}
	return ""
}

func (m meta) float(key string) float64 {
	f, _ := strconv.ParseFloat(m.get(key), 64)
	return f
}

// chatload's --json report: the load generator's own types.
type (
	loadReport = loadgen.Report
	summary    = loadgen.Summary
)

// loadRun is one load run of the suite: runs/<name>/ in the results.
type loadRun struct {
	Name    string
	Dir     string
	Meta    meta
	Report  *loadReport // nil when there is no parsable output
	JSONErr error
	Nodes   []string           // node names with samples, the primary first
	Use     map[string]procUse // node name → processor and memory use in the busiest window
	Machine float64            // whole machine's busy cores in that window; <0 when unknown
	WindowS float64            // length of that window
}

// procUse is a node's processor and memory use from its samples.
type procUse struct {
	Cores     float64 // over the busiest window of the primary node
	PeakRSSKB int64   // over the whole run
}

func readRun(dir, name string, clkTck, nproc float64) (*loadRun, error) {
	d := filepath.Join(dir, "runs", name)
	m, err := readMeta(filepath.Join(d, "meta"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r := &loadRun{Name: name, Dir: d, Meta: m, Use: map[string]procUse{}, Machine: -1}
	if b, err := os.ReadFile(filepath.Join(d, "out.json")); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		var rep loadReport
		if err := json.Unmarshal(b, &rep); err != nil {
			r.JSONErr = err
		} else {
			r.Report = &rep
		}
	}
	files, _ := filepath.Glob(filepath.Join(d, "samples-*.txt"))
	nodes := map[string]series{}
	var system series
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "samples-"), ".txt")
		s := readSeries(f)
		if name == "system" {
			system = s
			continue
		}
		nodes[name] = s
		r.Nodes = append(r.Nodes, name)
	}
	if len(r.Nodes) == 0 || clkTck <= 0 {
		return r, nil
	}
	// The primary node (the standalone node, or the master) is the one
	// chatload's visitors talk to; its busiest stretch is the send window.
	sort.Slice(r.Nodes, func(i, j int) bool {
		return primaryRank(r.Nodes[i]) < primaryRank(r.Nodes[j]) ||
			primaryRank(r.Nodes[i]) == primaryRank(r.Nodes[j]) && r.Nodes[i] < r.Nodes[j]
	})
	t0, t1, ok := nodes[r.Nodes[0]].busiest(m.float("duration_s"))
	for _, n := range r.Nodes {
		u := procUse{PeakRSSKB: nodes[n].peak}
		if ok {
			if d, dt, ok := nodes[n].delta(t0, t1); ok {
				u.Cores = d / clkTck / dt
			}
		}
		r.Use[n] = u
	}
	if ok {
		r.WindowS = t1 - t0
		if busy, _, ok := system.delta(t0, t1); ok {
			if all, _, ok := system.deltaB(t0, t1); ok && all > 0 {
				r.Machine = busy / all * nproc
			}
		}
	}
	return r, nil
}

func primaryRank(node string) int {
	switch node {
	case "node", "master":
		return 0
	}
	return 1
}

// series is a sampler's output: lines "epoch a b [rss-kB]", a and b being
// utime and stime ticks of a process (a+b is its processor time), or busy
// and total ticks of the machine.
type series struct {
	t, a, b []float64
	proc    bool // a+b is the value; otherwise a is, and b is the total
	peak    int64
}

func readSeries(path string) series {
	var s series
	f, err := os.Open(path)
	if err != nil {
		return s
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) != 3 && len(fl) != 4 {
			continue
		}
		var v [3]float64
		bad := false
		for i := range v {
			var err error
			if v[i], err = strconv.ParseFloat(fl[i], 64); err != nil {
				bad = true
			}
		}
		if bad || len(s.t) > 0 && v[0] < s.t[len(s.t)-1] {
			continue
		}
		if len(fl) == 4 {
			s.proc = true
			rss, _ := strconv.ParseInt(fl[3], 10, 64)
			s.peak = max(s.peak, rss)
		}
		s.t, s.a, s.b = append(s.t, v[0]), append(s.a, v[1]), append(s.b, v[2])
	}
	return s
}

func (s series) value(i int) float64 {
	if s.proc {
		return s.a[i] + s.b[i]
	}
	return s.a[i]
}

// span returns the first sample at or after t0 and the last at or before t1.
func (s series) span(t0, t1 float64) (int, int, bool) {
	i := sort.SearchFloat64s(s.t, t0-0.25)
	j := sort.SearchFloat64s(s.t, t1+0.25) - 1
	return i, j, i < j && j < len(s.t)
}

// delta is the growth of the value between t0 and t1, and the time it took.
func (s series) delta(t0, t1 float64) (float64, float64, bool) {
	i, j, ok := s.span(t0, t1)
	if !ok {
		return 0, 0, false
	}
	return s.value(j) - s.value(i), s.t[j] - s.t[i], true
}

// deltaB is the growth of b (a machine's total ticks) between t0 and t1.
func (s series) deltaB(t0, t1 float64) (float64, float64, bool) {
	i, j, ok := s.span(t0, t1)
	if !ok {
		return 0, 0, false
	}
	return s.b[j] - s.b[i], s.t[j] - s.t[i], true
}

// busiest returns the stretch of about window seconds (the whole series
// when shorter) in which the value grew fastest.
func (s series) busiest(window float64) (float64, float64, bool) {
	n := len(s.t)
	if n < 2 {
		return 0, 0, false
	}
	if span := s.t[n-1] - s.t[0]; window <= 0 || window > span {
		window = span
	}
	best, b0, b1 := math.Inf(-1), 0.0, 0.0
	j := 0
	for i := range n {
		for j < n && s.t[j]-s.t[i] < window-0.25 {
			j++
		}
		if j == n {
			break
		}
		dt := s.t[j] - s.t[i]
		if dt <= 0 {
			continue
		}
		if rate := (s.value(j) - s.value(i)) / dt; rate > best {
			best, b0, b1 = rate, s.t[i], s.t[j]
		}
	}
	return b0, b1, !math.IsInf(best, -1)
}

// goBenchPkg is one package's `go test -bench` step.
type goBenchPkg struct {
	Meta    meta
	Results []benchResult
	Notes   []benchNote
	Output  string
}

func readGoBench(dir string) ([]goBenchPkg, error) {
	metas, err := filepath.Glob(filepath.Join(dir, "gobench", "*.meta"))
	if err != nil {
		return nil, err
	}
	sort.Strings(metas)
	var pkgs []goBenchPkg
	for _, mp := range metas {
		m, err := readMeta(mp)
		if err != nil {
			return nil, err
		}
		p := goBenchPkg{Meta: m}
		if b, err := os.ReadFile(strings.TrimSuffix(mp, ".meta") + ".out"); err == nil {
			p.Output = string(b)
			p.Results, p.Notes = parseGoBench(strings.NewReader(p.Output))
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, nil
}
