package loadgen

import (
	"fmt"
	"io"
	"time"
)

// startProgress writes a chat run's progress line to w each second,
// rewriting it in place, until the returned function is called.
func (r *runner) startProgress(w io.Writer) (stop func()) {
	return ticker(w, func(prev *[2]uint64) string {
		delivered := r.msgs.latency.Count()
		failed := r.msgs.failedN.Load()
		line := fmt.Sprintf("%5.0fs  sent %d  delivered %d  failed %d  %d msg/s  inflight %d",
			time.Since(r.t0).Seconds(), r.msgs.next.Load(), delivered, failed, delivered-prev[0], r.inflight.Load())
		if r.o.Reply {
			line += fmt.Sprintf("  replies %d", r.replies.latency.Count())
		}
		prev[0] = delivered
		return line
	})
}

// ticker calls line each second and writes its result over the previous
// one; stop clears the line.
func ticker(w io.Writer, line func(prev *[2]uint64) string) (stop func()) {
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var prev [2]uint64
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
				fmt.Fprint(w, "\r\033[K"+line(&prev))
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
