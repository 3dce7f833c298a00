package mq

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var benchHeaders = map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}

// runPublishers calls f(i) for i in [0, b.N) from n goroutines and returns
// the elapsed time.
func runPublishers(b *testing.B, n int, f func() error) time.Duration {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := f(); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	return elapsed
}

// BenchmarkPublishConfirm measures Publish with broker confirmation from 64
// concurrent publishers to a node queue that another link drains.
func BenchmarkPublishConfirm(b *testing.B) {
	c := newTestCluster(b)
	a, rcv := c.dial("a"), c.dial("b")
	if err := rcv.Consume(func(context.Context, Delivery) error { return nil }); err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 256)
	ctx := context.Background()
	b.ReportAllocs()
	elapsed := runPublishers(b, 64, func() error {
		return a.Publish(ctx, RouteNode("b"), NewEventID(), benchHeaders, body)
	})
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

// BenchmarkRoundTrip measures publish on node a to consumption on node b,
// with 1 and with 64 messages in flight.
func BenchmarkRoundTrip(b *testing.B) {
	for _, inflight := range []int{1, 64} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
			c := newTestCluster(b)
			a, rcv := c.dial("a"), c.dial("b")
			var waiters sync.Map // event id → chan struct{}
			err := rcv.Consume(func(_ context.Context, d Delivery) error {
				if w, ok := waiters.LoadAndDelete(d.EventID); ok {
					close(w.(chan struct{}))
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			body := make([]byte, 256)
			ctx := context.Background()
			var latMu sync.Mutex
			lat := make([]time.Duration, 0, b.N)
			elapsed := runPublishers(b, inflight, func() error {
				id := NewEventID()
				got := make(chan struct{})
				waiters.Store(id, got)
				start := time.Now()
				if err := a.Publish(ctx, RouteNode("b"), id, benchHeaders, body); err != nil {
					return err
				}
				select {
				case <-got:
				case <-time.After(10 * time.Second):
					return fmt.Errorf("event %s not consumed", id)
				}
				d := time.Since(start)
				latMu.Lock()
				lat = append(lat, d)
				latMu.Unlock()
				return nil
			})
			slices.Sort(lat)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			}
		})
	}
}
