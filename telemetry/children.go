package telemetry

import (
	"maps"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// children resolves a metric vector's child once per label values. The
// vector's own lookup (WithLabelValues) validates and hashes the values
// and takes the vector's lock on every call; the hot path records the same
// few label values for every request, so they are looked up here, in a
// map that readers load without a lock and writers replace whole.
//
// The first use of label values still goes through the vector, with its
// validation (and its panic on values that are not valid UTF-8). Children
// stay valid because no vector of this package is ever Reset or has a
// child deleted. At most maxChildren label values are kept; beyond that
// (a caller that lets label values grow, which the vector would hold all
// the same) lookups go to the vector every time.
type children[K comparable, M any] struct {
	m   atomic.Pointer[map[K]M]
	mu  sync.Mutex
	get func(K) M
}

// maxChildren bounds the label values one children map keeps.
const maxChildren = 1024

func newChildren[K comparable, M any](get func(K) M) *children[K, M] {
	return &children[K, M]{get: get}
}

// of returns the child for k.
func (c *children[K, M]) of(k K) M {
	if m := c.m.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	if old != nil {
		if v, ok := (*old)[k]; ok {
			return v
		}
	}
	v := c.get(k)
	if old != nil && len(*old) >= maxChildren {
		return v
	}
	next := map[K]M{}
	if old != nil {
		next = maps.Clone(*old)
	}
	next[k] = v
	c.m.Store(&next)
	return v
}

// counters2 are the children of a counter vector with two labels.
func counters2(v *prometheus.CounterVec) *children[[2]string, prometheus.Counter] {
	return newChildren(func(k [2]string) prometheus.Counter { return v.WithLabelValues(k[0], k[1]) })
}

// counters1 are the children of a counter vector with one label.
func counters1(v *prometheus.CounterVec) *children[string, prometheus.Counter] {
	return newChildren(func(k string) prometheus.Counter { return v.WithLabelValues(k) })
}

// observers1 are the children of a histogram vector with one label.
func observers1(v *prometheus.HistogramVec) *children[string, prometheus.Observer] {
	return newChildren(func(k string) prometheus.Observer { return v.WithLabelValues(k) })
}
