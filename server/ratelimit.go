package server

import (
	"hash/maphash"
	"sync"
	"time"
)

// limiter is a token bucket per key: rate tokens a second, at most burst
// stored. A bucket left alone long enough to fill up is no different from a
// new one, so it is forgotten; memory stays bounded by the keys active in
// the last burst/rate seconds, and by a hard cap per shard beyond that.
type limiter struct {
	rate   float64 // tokens a second
	burst  float64
	idle   int64 // nanoseconds after which a bucket is full again
	seed   maphash.Seed
	shards [limiterShards]limiterShard
}

const (
	limiterShards   = 64
	limiterShardCap = 4096 // keys per shard: 262,144 in all
)

type limiterShard struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	sweepAt int // sweep when the map grows to this size
}

type bucket struct {
	tokens float64
	last   int64 // unix nanoseconds of the last take
}

// newLimiter returns a limiter, or nil (which allows everything) when rate
// is not positive.
func newLimiter(rate float64, burst int) *limiter {
	if rate <= 0 {
		return nil
	}
	if burst < 1 {
		burst = 1
	}
	l := &limiter{
		rate:  rate,
		burst: float64(burst),
		idle:  int64(float64(burst) / rate * float64(time.Second)),
		seed:  maphash.MakeSeed(),
	}
	for i := range l.shards {
		l.shards[i].buckets = make(map[string]*bucket)
		l.shards[i].sweepAt = 256
	}
	return l
}

// allow takes a token from key's bucket at now and reports whether there
// was one. A key seen before costs no allocation: the bucket is found by
// the key's bytes and changed in place.
func (l *limiter) allow(key []byte, now time.Time) bool {
	if l == nil {
		return true
	}
	t := now.UnixNano()
	sh := &l.shards[maphash.Bytes(l.seed, key)%limiterShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b, ok := sh.buckets[string(key)]
	if !ok {
		if len(sh.buckets) >= sh.sweepAt {
			l.sweep(sh, t)
		}
		b = &bucket{tokens: l.burst, last: t}
		sh.buckets[string(key)] = b
	} else if d := t - b.last; d > 0 {
		b.tokens += float64(d) / float64(time.Second) * l.rate
		if b.tokens > l.burst {
			b.tokens = l.burst
		}
		b.last = t
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// sweep drops the buckets of sh that have filled up again; if the shard is
// still near its cap, it drops arbitrary ones (an eighth of the cap) so that
// the next sweep is far off.
func (l *limiter) sweep(sh *limiterShard, now int64) {
	for k, b := range sh.buckets {
		if now-b.last >= l.idle {
			delete(sh.buckets, k)
		}
	}
	if len(sh.buckets) >= limiterShardCap-limiterShardCap/8 {
		for k := range sh.buckets {
			if len(sh.buckets) < limiterShardCap-limiterShardCap/8 {
				break
			}
			delete(sh.buckets, k)
		}
	}
	sh.sweepAt = min(max(2*len(sh.buckets), 256), limiterShardCap)
}

// size returns the number of buckets held, for tests.
func (l *limiter) size() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.buckets)
		sh.mu.Unlock()
	}
	return n
}
