package mq

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestReconnectLosesNothing publishes from 8 goroutines while first the
// publisher's and then the consumer's connection is lost; every confirmed
// event must be consumed.
func TestReconnectLosesNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		cut  func(*Link)
	}{
		{"socket", func(l *Link) { l.breakConn() }},
		{"close", func(l *Link) {
			if c := l.conn(); c != nil {
				c.Close()
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const publishers, perPublisher = 8, 250
			const total = publishers * perPublisher
			c := newTestCluster(t)
			var reconnects atomic.Int32
			countReconnects := func(o *Options) { o.Hooks.Reconnected = func() { reconnects.Add(1) } }
			a, b := c.dial("a", countReconnects), c.dial("b", countReconnects)

			var (
				mu         sync.Mutex
				dedup      = NewDedup(0)
				unique     int
				duplicates int
				cutB       sync.Once
			)
			err := b.Consume(func(_ context.Context, d Delivery) error {
				mu.Lock()
				defer mu.Unlock()
				if dedup.Seen(d.EventID) {
					duplicates++
					return nil
				}
				unique++
				if unique == total/2 {
					cutB.Do(func() { go tc.cut(b) })
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}

			var (
				confirmedMu sync.Mutex
				confirmed   []string
				nConfirmed  atomic.Int32
				cutA        sync.Once
				wg          sync.WaitGroup
				errs        = make(chan error, total)
			)
			for p := range publishers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range perPublisher {
						ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
						id := NewEventID()
						err := a.Publish(ctx, RouteNode("b"), id, map[string]string{"n": fmt.Sprint(p, "/", i)}, []byte(id))
						cancel()
						if err != nil {
							errs <- err
							continue
						}
						confirmedMu.Lock()
						confirmed = append(confirmed, id)
						confirmedMu.Unlock()
						if nConfirmed.Add(1) == total/4 {
							cutA.Do(func() { tc.cut(a) })
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("Publish: %v", err)
			}

			waitFor(t, 30*time.Second, 20*time.Millisecond, func() error {
				mu.Lock()
				defer mu.Unlock()
				missing := 0
				for _, id := range confirmed {
					if _, ok := dedup.seen[id]; !ok {
						missing++
					}
				}
				if missing > 0 {
					return fmt.Errorf("%d of %d confirmed events not consumed", missing, len(confirmed))
				}
				return nil
			})
			if got := reconnects.Load(); got < 2 {
				t.Errorf("reconnected %d times, want 2", got)
			}
			mu.Lock()
			t.Logf("confirmed %d, consumed %d, duplicates %d", len(confirmed), unique, duplicates)
			mu.Unlock()
		})
	}
}
