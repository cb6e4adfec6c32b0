// Package metrics holds what the load generator measures with: a latency
// histogram cheap enough to record every delivery, and the RSS and CPU
// time of a process read from /proc.
package metrics

import (
	"math"
	"math/bits"
	"sync"
	"time"
)

// subBits sets the histogram's precision: values are kept to within
// 1/2^subBits (under 1%) of themselves, like HdrHistogram.
const subBits = 7

const subCount = 1 << subBits

// Hist counts durations in microseconds in log-linear buckets. It is not
// safe for concurrent use; give each goroutine its own and Merge them, or
// use a Shared.
type Hist struct {
	counts []uint64
	n      uint64
	max    uint64
	sum    uint64
}

func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1
	return (shift+1)*subCount + int(v>>shift) - subCount
}

// lowOf is the smallest value of bucket b.
func lowOf(b int) uint64 {
	if b < subCount {
		return uint64(b)
	}
	shift := b/subCount - 1
	return uint64(b%subCount+subCount) << shift
}

// Record adds one duration.
func (h *Hist) Record(d time.Duration) {
	v := uint64(max(d.Microseconds(), 0))
	b := bucketOf(v)
	if b >= len(h.counts) {
		h.counts = append(h.counts, make([]uint64, b+1-len(h.counts))...)
	}
	h.counts[b]++
	h.n++
	h.sum += v
	h.max = max(h.max, v)
}

// Merge adds o's counts to h.
func (h *Hist) Merge(o *Hist) {
	if len(o.counts) > len(h.counts) {
		h.counts = append(h.counts, make([]uint64, len(o.counts)-len(h.counts))...)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// Count is how many durations were recorded.
func (h *Hist) Count() uint64 { return h.n }

// Max is the largest duration recorded.
func (h *Hist) Max() time.Duration { return time.Duration(h.max) * time.Microsecond }

// Mean is the average duration.
func (h *Hist) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum/h.n) * time.Microsecond
}

// Quantile returns the duration below which fraction q of the recorded
// ones fall (q in [0, 1]).
func (h *Hist) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			v := lowOf(b)
			if b+1 < len(h.counts) || b >= subCount {
				v = (lowOf(b) + lowOf(b+1)) / 2 // the bucket's middle
			}
			return time.Duration(min(v, h.max)) * time.Microsecond
		}
	}
	return h.Max()
}

// Point is one step of a cumulative distribution.
type Point struct {
	Latency  time.Duration
	Fraction float64 // of recorded durations at or below Latency
}

// CDF returns the cumulative distribution at each non-empty bucket.
func (h *Hist) CDF() []Point {
	var out []Point
	var seen uint64
	for b, c := range h.counts {
		if c == 0 {
			continue
		}
		seen += c
		out = append(out, Point{Latency: time.Duration(min(lowOf(b+1)-1, h.max)) * time.Microsecond, Fraction: float64(seen) / float64(h.n)})
	}
	return out
}

// Shared is a Hist many goroutines record into.
type Shared struct {
	mu sync.Mutex
	h  Hist
}

// Record adds one duration.
func (s *Shared) Record(d time.Duration) {
	s.mu.Lock()
	s.h.Record(d)
	s.mu.Unlock()
}

// Merge adds h's counts.
func (s *Shared) Merge(h *Hist) {
	s.mu.Lock()
	s.h.Merge(h)
	s.mu.Unlock()
}

// Snapshot returns a copy of the counts so far.
func (s *Shared) Snapshot() *Hist {
	s.mu.Lock()
	defer s.mu.Unlock()
	var h Hist
	h.Merge(&s.h)
	return &h
}
