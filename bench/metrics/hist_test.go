package metrics

import (
	"testing"
	"time"
)

func TestHistQuantiles(t *testing.T) {
	var h Hist
	for i := 1; i <= 10000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5 * time.Millisecond}, {0.99, 9900 * time.Microsecond}, {1, 10 * time.Millisecond}} {
		got := h.Quantile(c.q)
		if d := got - c.want; d < -c.want/100 || d > c.want/100 {
			t.Errorf("q%.2f = %s, want %s within 1%%", c.q, got, c.want)
		}
	}
	if h.Max() != 10*time.Millisecond || h.Count() != 10000 {
		t.Errorf("max %s count %d", h.Max(), h.Count())
	}
	cdf := h.CDF()
	if len(cdf) == 0 || cdf[len(cdf)-1].Fraction != 1 {
		t.Errorf("CDF ends at %v", cdf[len(cdf)-1])
	}
	var m Hist
	m.Merge(&h)
	m.Merge(&h)
	if m.Count() != 20000 || m.Quantile(0.5) != h.Quantile(0.5) {
		t.Errorf("merged: count %d p50 %s", m.Count(), m.Quantile(0.5))
	}
}

func TestBuckets(t *testing.T) {
	for v := uint64(0); v < 1<<20; v += 7 {
		b := bucketOf(v)
		if lo, hi := lowOf(b), lowOf(b+1); v < lo || v >= hi {
			t.Fatalf("%d in bucket %d [%d, %d)", v, b, lo, hi)
		}
	}
}

func TestReadUsage(t *testing.T) {
	u, err := ReadUsage(0)
	if err != nil || u.RSS <= 0 {
		t.Fatalf("%+v %v", u, err)
	}
}
