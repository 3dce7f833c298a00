package pace

import (
	"testing"
	"time"
)

func TestWaitIsTheRestOfTheInterval(t *testing.T) {
	t0 := time.Unix(1000, 0)
	p := Pacer{Interval: 10 * time.Millisecond, last: t0}
	for _, s := range []struct {
		at   time.Duration // since the last start
		want time.Duration
	}{
		{0, 10 * time.Millisecond},
		{2 * time.Millisecond, 8 * time.Millisecond}, // under load: the rest of the interval
		{10 * time.Millisecond, 0},                   // a whole interval later: at once
		{time.Second, 0},                             // after a quiet spell: at once
	} {
		if got := p.wait(t0.Add(s.at)); got != s.want {
			t.Errorf("wait at +%v = %v, want %v", s.at, got, s.want)
		}
	}
	var never Pacer
	if got := never.wait(time.Now()); got != 0 {
		t.Errorf("wait with no interval = %v, want 0", got)
	}
}

// The starts Wait lets through are at least Interval apart, whatever the
// sleep overshoots by.
func TestWaitSpacesStarts(t *testing.T) {
	p := Pacer{Interval: 20 * time.Millisecond}
	p.Wait() // the first run starts at once
	prev := p.last
	for range 3 {
		p.Wait()
		if gap := p.last.Sub(prev); gap < p.Interval {
			t.Fatalf("a run started %v after the one before, want at least %v", gap, p.Interval)
		}
		prev = p.last
	}
}
