package loadgen

import (
	"context"
	"sync"
	"time"
)

// schedule sends messages at the rate, through Inflight workers, until
// the duration ends or ctx is done. A send due while every worker waits
// for an answer is held for the next tick; when more than Inflight are
// held the excess is skipped and counted.
func (r *runner) schedule(ctx context.Context, t0 time.Time) {
	o := r.o
	jobs := make(chan *visitor)
	var wg sync.WaitGroup
	for range o.Inflight {
		wg.Go(func() {
			for v := range jobs {
				r.inflight.Add(1)
				v.send()
				r.inflight.Add(-1)
			}
		})
	}
	defer func() {
		close(jobs)
		wg.Wait()
	}()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var ready []*visitor
	rr := 0
	var issued uint64
	limit := uint64(o.Inflight)
	for {
		var now time.Time
		select {
		case <-ctx.Done():
			return
		case now = <-tick.C:
		}
		for more := true; more; {
			select {
			case v := <-r.readyCh:
				ready = append(ready, v)
			default:
				more = false
			}
		}
		elapsed := now.Sub(t0)
		last := elapsed >= o.Duration
		if last {
			elapsed = o.Duration
		}
		target := uint64(offered(o.Rate, o.RampUp, elapsed))
		r.offered.Store(target)
		if target > issued+limit {
			r.skippedInflight.Add(target - issued - limit)
			issued = target - limit
		}
	send:
		for ; issued < target; issued++ {
			v := pick(ready, &rr)
			if v == nil {
				r.skippedNoVisitor.Add(1)
				continue
			}
			select {
			case jobs <- v:
			default:
				break send // every worker is waiting for an answer
			}
		}
		if last {
			if issued < target {
				r.skippedInflight.Add(target - issued)
			}
			return
		}
	}
}

// offered is the number of messages due after elapsed: the rate rises
// linearly over the ramp-up, then holds.
func offered(rate float64, ramp, elapsed time.Duration) float64 {
	t, rs := elapsed.Seconds(), ramp.Seconds()
	if t <= 0 {
		return 0
	}
	if rs > 0 && t < rs {
		return rate * t * t / (2 * rs)
	}
	return rate * (t - rs/2)
}

// pick returns the next ready visitor in turn, or nil when none is.
func pick(ready []*visitor, rr *int) *visitor {
	for range ready {
		*rr = (*rr + 1) % len(ready)
		if v := ready[*rr]; v.ready.Load() {
			return v
		}
	}
	return nil
}
