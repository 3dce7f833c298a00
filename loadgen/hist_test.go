package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestBucketsCoverEveryValueOnce(t *testing.T) {
	prevHi := int64(-1)
	for i := 0; i < histBuckets; i++ {
		lo, hi := bucketRange(i)
		if int64(lo) != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, want %d", i, lo, prevHi+1)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d [%d,%d]: bucketOf gives %d and %d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		if lo >= histSub*2 && float64(hi-lo+1)/float64(lo) > 1.0/histSub+1e-12 {
			t.Fatalf("bucket %d [%d,%d] is wider than 1/%d of its value", i, lo, hi, histSub)
		}
		prevHi = int64(hi)
	}
	if prevHi < histMaxUS {
		t.Fatalf("buckets end at %d, below the clamp %d", prevHi, histMaxUS)
	}
}

func TestQuantilesMatchExactWithinPrecision(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, dist := range []struct {
		name string
		gen  func() time.Duration
	}{
		{"exponential", func() time.Duration { return time.Duration(rng.ExpFloat64() * float64(3*time.Millisecond)) }},
		{"uniform", func() time.Duration { return time.Duration(rng.Int64N(int64(time.Second))) }},
		{"bimodal", func() time.Duration {
			if rng.IntN(100) == 0 {
				return 200*time.Millisecond + time.Duration(rng.Int64N(int64(50*time.Millisecond)))
			}
			return time.Duration(rng.Int64N(int64(2 * time.Millisecond)))
		}},
	} {
		t.Run(dist.name, func(t *testing.T) {
			var h Histogram
			var exact []int64 // microseconds, as recorded
			for range 50_000 {
				d := dist.gen()
				h.Record(d)
				exact = append(exact, d.Microseconds())
			}
			slices.Sort(exact)
			for _, q := range []float64{0.01, 0.5, 0.9, 0.95, 0.99, 0.999, 1} {
				rank := int(math.Ceil(q*float64(len(exact)))) - 1
				want := exact[rank]
				got := h.Quantile(q).Microseconds()
				if got < want || float64(got-want) > float64(want)/histSub+1 {
					t.Errorf("q%.3f = %dµs, exact %dµs", q, got, want)
				}
			}
			s := h.Summary()
			if s.Count != uint64(len(exact)) {
				t.Errorf("count %d, want %d", s.Count, len(exact))
			}
			if s.MinMS != float64(exact[0])/1000 || s.MaxMS != float64(exact[len(exact)-1])/1000 {
				t.Errorf("min/max %v/%v, want %v/%v", s.MinMS, s.MaxMS, float64(exact[0])/1000, float64(exact[len(exact)-1])/1000)
			}
			var sum int64
			for _, v := range exact {
				sum += v
			}
			if mean := float64(sum) / float64(len(exact)) / 1000; math.Abs(s.MeanMS-mean) > 1e-9 {
				t.Errorf("mean %v, want %v", s.MeanMS, mean)
			}
		})
	}
}

func TestHistogramEdges(t *testing.T) {
	var empty Histogram
	if s := empty.Summary(); s != (Summary{}) {
		t.Fatalf("empty summary %+v", s)
	}
	if q := empty.Quantile(0.99); q != 0 {
		t.Fatalf("empty quantile %v", q)
	}

	var one Histogram
	one.Record(1234567 * time.Microsecond)
	for _, q := range []float64{0.001, 0.5, 1} {
		if got := one.Quantile(q); got != 1234567*time.Microsecond {
			t.Fatalf("one value: q%v = %v", q, got)
		}
	}

	var neg Histogram
	neg.Record(-time.Second)
	neg.Record(0)
	if s := neg.Summary(); s.MinMS != 0 || s.MaxMS != 0 || s.Count != 2 {
		t.Fatalf("negative durations: %+v", s)
	}

	var huge Histogram
	huge.Record(1000 * time.Hour)
	if got := huge.Quantile(0.5); got != histMaxUS*time.Microsecond {
		t.Fatalf("huge value read back as %v", got)
	}
}

func TestHistogramConcurrentRecord(t *testing.T) {
	var h Histogram
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 10_000 {
				h.Record(time.Duration(g*10_000+i) * time.Microsecond)
			}
		})
	}
	wg.Wait()
	s := h.Summary()
	if s.Count != 80_000 || s.MinMS != 0 || s.MaxMS != 79.999 {
		t.Fatalf("summary %+v", s)
	}
	if p50 := h.Quantile(0.5).Microseconds(); p50 < 39_999 || p50 > 39_999+39_999/histSub+1 {
		t.Fatalf("p50 %dµs, want about 39999", p50)
	}
}
