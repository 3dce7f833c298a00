package loadgen

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// CPUReport is the processor time the node and the load generator used
// over a window, in cores (1 = one core busy all along).
type CPUReport struct {
	ServerCores float64 `json:"server_cores,omitempty"` // needs --pid
	ClientCores float64 `json:"client_cores"`
}

// cpuWatch measures processor time between startCPU and stop.
type cpuWatch struct {
	pid            int
	at             time.Time
	server, client time.Duration
}

func startCPU(pid int) *cpuWatch {
	w := &cpuWatch{pid: pid, at: time.Now()}
	w.client, _ = processCPU(os.Getpid())
	if pid != 0 {
		w.server, _ = processCPU(pid)
	}
	return w
}

func (w *cpuWatch) stop() *CPUReport {
	wall := time.Since(w.at).Seconds()
	if wall <= 0 {
		return nil
	}
	rep := &CPUReport{}
	if c, err := processCPU(os.Getpid()); err == nil {
		rep.ClientCores = (c - w.client).Seconds() / wall
	}
	if w.pid != 0 {
		if c, err := processCPU(w.pid); err == nil {
			rep.ServerCores = (c - w.server).Seconds() / wall
		}
	}
	return rep
}

// clockTick is the unit of /proc/<pid>/stat times: USER_HZ, 100 on every
// Linux of our machines.
const clockTick = 10 * time.Millisecond

// processCPU returns the user and system time process pid has used, from
// /proc/<pid>/stat.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields count from its
	// closing parenthesis.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	return time.Duration(utime+stime) * clockTick, nil
}
