package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ReadRSS returns the resident memory of process pid in bytes, read from
// the VmRSS line of /proc/<pid>/status.
func ReadRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read memory of process %d: %w", pid, err)
	}
	defer f.Close()
	return parseVmRSS(f)
}

func parseVmRSS(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("unexpected VmRSS line %q", sc.Text())
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected VmRSS line %q", sc.Text())
		}
		return kb * 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no VmRSS line (a kernel thread, or not Linux)")
}

// metricsClient reads a Prometheus endpoint; it is not a load path.
var metricsClient = &http.Client{Timeout: 3 * time.Second}

// ReadMetricsRSS returns process_resident_memory_bytes from the Prometheus
// text at url.
func ReadMetricsRSS(url string) (int64, error) {
	resp, err := metricsClient.Get(url)
	if err != nil {
		return 0, fmt.Errorf("read metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("read metrics: %s answered %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return 0, fmt.Errorf("read metrics: %w", err)
	}
	return parseMetricsRSS(body)
}

func parseMetricsRSS(body []byte) (int64, error) {
	const name = "process_resident_memory_bytes"
	for line := range bytes.Lines(body) {
		line = bytes.TrimSpace(line)
		rest, ok := bytes.CutPrefix(line, []byte(name))
		if !ok || len(rest) == 0 || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		if rest[0] == '{' {
			end := bytes.IndexByte(rest, '}')
			if end < 0 {
				continue
			}
			rest = rest[end+1:]
		}
		fields := strings.Fields(string(rest))
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return 0, fmt.Errorf("metrics: bad %s value %q", name, fields[0])
		}
		return int64(v), nil
	}
	return 0, fmt.Errorf("metrics: no %s", name)
}

// MemoryReport is the node's resident memory over a run.
type MemoryReport struct {
	Source     string `json:"source"` // "pid 1234" or the metrics URL
	StartBytes int64  `json:"start_bytes"`
	PeakBytes  int64  `json:"peak_bytes"`
	EndBytes   int64  `json:"end_bytes"`
	Error      string `json:"error,omitempty"`
}

// memWatch samples the node's memory, from its pid when known, else from
// its metrics.
type memWatch struct {
	pid        int
	metricsURL string

	mu  sync.Mutex
	rep MemoryReport
	ok  bool // a sample succeeded
}

func newMemWatch(pid int, metricsURL string) *memWatch {
	if pid == 0 && metricsURL == "" {
		return nil
	}
	m := &memWatch{pid: pid, metricsURL: metricsURL}
	m.rep.Source = metricsURL
	if pid != 0 {
		m.rep.Source = "pid " + strconv.Itoa(pid)
	}
	return m
}

// read takes one sample without recording it.
func (m *memWatch) read() (int64, error) {
	if m.pid != 0 {
		return ReadRSS(m.pid)
	}
	return ReadMetricsRSS(m.metricsURL)
}

// sample takes a sample, records it as the latest and the peak, and
// returns it (0 on error).
func (m *memWatch) sample() int64 {
	if m == nil {
		return 0
	}
	v, err := m.read()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.rep.Error = err.Error()
		return 0
	}
	if !m.ok {
		m.rep.StartBytes = v
		m.ok = true
	}
	m.rep.EndBytes = v
	m.rep.PeakBytes = max(m.rep.PeakBytes, v)
	return v
}

// run samples every second until stop is closed.
func (m *memWatch) run(stop <-chan struct{}) {
	if m == nil {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			m.sample()
		}
	}
}

func (m *memWatch) report() *MemoryReport {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.rep
	return &r
}

// selfRSS returns this process's resident memory, 0 when unknown.
func selfRSS() int64 {
	v, _ := ReadRSS(os.Getpid())
	return v
}
