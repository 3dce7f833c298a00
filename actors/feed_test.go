package actors

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// TestFeedKeepsTheNewestBatches publishes past the window, over several
// turns of the ring, and checks what after returns for every since.
func TestFeedKeepsTheNewestBatches(t *testing.T) {
	const size = 4
	f := newFeed(size, time.UnixMicro(1000))
	start := f.rev
	d := func(i int) json.RawMessage { return json.RawMessage(fmt.Sprintf("%d", i)) }
	for n := 1; n <= 3*size+1; n++ {
		f.publish(nil, []json.RawMessage{d(n)})
		kept := min(n, size)
		if f.rev != start+int64(n) || f.base != f.rev-int64(kept) {
			t.Fatalf("after %d batches: rev %d base %d, want %d and %d", n, f.rev, f.base, start+int64(n), f.rev-int64(kept))
		}
		for since := start - 1; since <= f.rev+1; since++ {
			got, ok := f.after(since)
			served := since >= f.base && since <= f.rev
			if ok != served {
				t.Fatalf("after %d batches: after(%d) served %v, want %v", n, since-start, ok, served)
			}
			if !ok {
				continue
			}
			var want []string
			for r := since + 1; r <= f.rev; r++ {
				want = append(want, fmt.Sprintf("%d", r-start))
			}
			if fmt.Sprint(raw(got)) != fmt.Sprint(want) {
				t.Fatalf("after %d batches: after(%d) = %v, want %v", n, since-start, raw(got), want)
			}
		}
	}
}

func raw(ds []json.RawMessage) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = string(d)
	}
	return out
}
