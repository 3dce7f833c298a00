// Package pace spaces a loop's runs under load. Group commit and batched
// publishing both gather what arrives while they wait; starting each run at
// least an interval after the previous one lets more arrive, so each run
// carries more for the same fixed cost (an fsync, a persistent broker
// message). After a quiet spell a run starts at once.
package pace

import "time"

// Pacer keeps the starts of a loop's runs at least Interval apart. The zero
// Interval never waits. A Pacer is used by one goroutine.
type Pacer struct {
	Interval time.Duration
	last     time.Time // start of the last run
}

// Wait sleeps until Interval has passed since the last run started, and
// counts a new run as started when it returns: the starts themselves, not
// the times asked for, are at least Interval apart.
func (p *Pacer) Wait() {
	if d := p.wait(time.Now()); d > 0 {
		time.Sleep(d)
	}
	p.last = time.Now()
}

// wait is how long a run that wants to start at now has to wait.
func (p *Pacer) wait(now time.Time) time.Duration {
	return max(0, p.Interval-now.Sub(p.last))
}
