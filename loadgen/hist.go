package loadgen

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram records durations in microseconds in log-linear buckets, in the
// manner of HdrHistogram: values below 256 µs are kept exactly, larger ones
// in buckets 1/128 of their power of two wide, so that any quantile read
// back is within 0.8% of a recorded value. Min, max, count and sum are
// exact. Record is safe for concurrent use and takes no lock.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Uint64
	min    atomic.Int64 // 0 means none yet; stored as value+1
	max    atomic.Int64
}

const (
	histSubBits = 7
	histSub     = 1 << histSubBits // sub-buckets per power of two
	histMaxUS   = 1 << 40          // values above (about 12 days) are clamped
	histBuckets = histSub*(40-histSubBits) + 2*histSub
)

// bucketOf returns the bucket index of v microseconds.
func bucketOf(v uint64) int {
	if v < histSub {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits - 1
	return histSub*shift + int(v>>uint(shift))
}

// bucketRange returns the smallest and largest value that bucket i holds.
func bucketRange(i int) (lo, hi uint64) {
	if i < histSub {
		return uint64(i), uint64(i)
	}
	shift := i/histSub - 1
	mantissa := uint64(i - histSub*shift)
	lo = mantissa << uint(shift)
	return lo, lo + (1 << uint(shift)) - 1
}

// Record adds one duration; negative durations count as 0.
func (h *Histogram) Record(d time.Duration) {
	us := d.Microseconds()
	if us < 0 {
		us = 0
	}
	if us > histMaxUS {
		us = histMaxUS
	}
	v := uint64(us)
	h.counts[bucketOf(v)].Add(1)
	h.n.Add(1)
	h.sum.Add(v)
	for {
		old := h.min.Load()
		if old != 0 && old-1 <= us || h.min.CompareAndSwap(old, us+1) {
			break
		}
	}
	for {
		old := h.max.Load()
		if old >= us || h.max.CompareAndSwap(old, us) {
			break
		}
	}
}

// Count returns how many values were recorded.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Quantile returns the value at quantile q (0 < q ≤ 1): the smallest
// recorded value such that a fraction q of the values are at or below it,
// to the histogram's precision, and never above the largest value
// recorded. It returns 0 when nothing was recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	maxV := uint64(h.max.Load())
	if q >= 1 {
		return time.Duration(maxV) * time.Microsecond
	}
	rank := uint64(math.Ceil(q * float64(n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			_, hi := bucketRange(i)
			return time.Duration(min(hi, maxV)) * time.Microsecond
		}
	}
	return time.Duration(maxV) * time.Microsecond
}

// Summary is a histogram's figures in milliseconds.
type Summary struct {
	Count  uint64  `json:"count"`
	MinMS  float64 `json:"min_ms"`
	MeanMS float64 `json:"mean_ms"`
	P50MS  float64 `json:"p50_ms"`
	P95MS  float64 `json:"p95_ms"`
	P99MS  float64 `json:"p99_ms"`
	P999MS float64 `json:"p999_ms"`
	MaxMS  float64 `json:"max_ms"`
}

// Summary returns the histogram's count, min, mean, quantiles and max.
func (h *Histogram) Summary() Summary {
	n := h.n.Load()
	if n == 0 {
		return Summary{}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return Summary{
		Count:  n,
		MinMS:  float64(h.min.Load()-1) / 1000,
		MeanMS: float64(h.sum.Load()) / float64(n) / 1000,
		P50MS:  ms(h.Quantile(0.50)),
		P95MS:  ms(h.Quantile(0.95)),
		P99MS:  ms(h.Quantile(0.99)),
		P999MS: ms(h.Quantile(0.999)),
		MaxMS:  float64(h.max.Load()) / 1000,
	}
}
