package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// calibration is how dear the machine's kernel was at one moment: the
// node's figures depend on it more than on anything else the suite
// records, since most of what a message costs beyond the node's own code
// is system calls and loopback TCP.
type calibration struct {
	SyscallNS   float64 // wall time of one getpid
	LoopbackRTT float64 // µs of wall time for a 64-byte loopback TCP round trip
	LoopbackCPU float64 // µs of the process's processor time for that round trip
	CrossCoreNS float64 // a cache line to another processor and back; 0 with one processor
}

// calibrate prints a calibration as key=value lines, each key after
// --prefix, for the suite's machine description.
func calibrate(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("calibrate", flag.ContinueOnError)
	prefix := fs.String("prefix", "calib_", "prefix of the printed keys")
	calls := fs.Int("syscalls", 1_000_000, "getpid calls to time")
	trips := fs.Int("round-trips", 20_000, "loopback round trips to time")
	bounces := fs.Int("bounces", 200_000, "cache line round trips between two processors to time")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *calls < 1 || *trips < 1 || *bounces < 1 {
		return errors.New("--syscalls, --round-trips and --bounces must be at least 1")
	}
	c, err := measure(*calls, *trips)
	if err != nil {
		return err
	}
	if c.CrossCoreNS, err = crossCore(*bounces); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%ssyscall_ns=%.0f\n%sloopback_rtt_us=%.1f\n%sloopback_cpu_us=%.1f\n%scross_core_ns=%.0f\n",
		*prefix, c.SyscallNS, *prefix, c.LoopbackRTT, *prefix, c.LoopbackCPU, *prefix, c.CrossCoreNS)
	return err
}

// measure times calls getpid system calls on one thread, then trips round
// trips of 64 bytes over a loopback TCP connection between two goroutines
// of this process, echo and caller, as a request and its answer travel
// between chatload and the node.
func measure(calls, trips int) (calibration, error) {
	var c calibration

	runtime.LockOSThread()
	start := time.Now()
	for range calls {
		syscall.Getpid()
	}
	c.SyscallNS = float64(time.Since(start).Nanoseconds()) / float64(calls)
	runtime.UnlockOSThread()

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return c, err
	}
	defer l.Close()
	echoed := make(chan error, 1)
	go func() {
		conn, err := l.Accept()
		if err != nil {
			echoed <- err
			return
		}
		defer conn.Close()
		buf := make([]byte, 64)
		for range trips {
			if _, err := io.ReadFull(conn, buf); err != nil {
				echoed <- err
				return
			}
			if _, err := conn.Write(buf); err != nil {
				echoed <- err
				return
			}
		}
		echoed <- nil
	}()
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		return c, err
	}
	defer conn.Close()
	buf := make([]byte, 64)
	cpu0, err := processorTime()
	if err != nil {
		return c, err
	}
	start = time.Now()
	for range trips {
		if _, err := conn.Write(buf); err != nil {
			return c, err
		}
		if _, err := io.ReadFull(conn, buf); err != nil {
			return c, err
		}
	}
	wall := time.Since(start)
	cpu1, err := processorTime()
	if err != nil {
		return c, err
	}
	if err := <-echoed; err != nil {
		return c, fmt.Errorf("echo: %w", err)
	}
	c.LoopbackRTT = float64(wall.Microseconds()) / float64(trips)
	c.LoopbackCPU = float64((cpu1 - cpu0).Microseconds()) / float64(trips)
	return c, nil
}

// processorTime is the user and system time the process has used.
func processorTime() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// crossCore times n round trips of a cache line between two threads held
// on the first two processors the process may use, each waiting for the
// other's write: what a hand-off between goroutines on different
// processors costs at the least. It returns 0 when there is one processor.
// Where the first two processors are hyperthreads of one core the figure
// is that core's, so it compares runs on one machine, not machines.
func crossCore(n int) (float64, error) {
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		return 0, err
	}
	var cpus []int
	for i := 0; i < len(allowed)*64 && len(cpus) < 2; i++ {
		if allowed.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	if len(cpus) < 2 || runtime.GOMAXPROCS(0) < 2 {
		return 0, nil
	}
	// The pinned threads are never unlocked: their goroutines end locked,
	// and the runtime ends the threads with them.
	pin := func(cpu int) error {
		runtime.LockOSThread()
		var set unix.CPUSet
		set.Set(cpu)
		return unix.SchedSetaffinity(0, &set)
	}
	var turn atomic.Int64
	var failed atomic.Bool // a side could not be pinned: the other stops waiting
	errs := make(chan error, 2)
	var took time.Duration
	go func() {
		if err := pin(cpus[1]); err != nil {
			failed.Store(true)
			errs <- err
			return
		}
		for i := int64(0); i <= int64(n); i++ {
			for turn.Load() != 2*i+1 {
				if failed.Load() {
					errs <- nil
					return
				}
			}
			turn.Store(2*i + 2)
		}
		errs <- nil
	}()
	go func() {
		if err := pin(cpus[0]); err != nil {
			failed.Store(true)
			errs <- err
			return
		}
		var start time.Time
		for i := int64(0); i <= int64(n); i++ {
			if i == 1 { // the first round trip waited for the other to start
				start = time.Now()
			}
			turn.Store(2*i + 1)
			for turn.Load() != 2*i+2 {
				if failed.Load() {
					errs <- nil
					return
				}
			}
		}
		took = time.Since(start)
		errs <- nil
	}()
	var err error
	for range 2 {
		if e := <-errs; e != nil {
			err = e
		}
	}
	if err != nil {
		return 0, err
	}
	return float64(took.Nanoseconds()) / float64(n), nil
}
