package ratelimit

import (
	"context"
	"sync"
	"time"
)

// Memory is the in-process Store of a single replica without Redis. It
// runs the same GCRA as the Redis store, so both give the same answers.
type Memory struct {
	now func() time.Time

	mu    sync.Mutex
	tat   map[string]time.Time            // GCRA theoretical arrival time per key
	slots map[string]map[string]time.Time // lease expiry per concurrency key
	ops   int
}

// NewMemory returns an empty in-process store; now nil means time.Now.
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, tat: map[string]time.Time{}, slots: map[string]map[string]time.Time{}}
}

// sweepEvery is how many operations pass between sweeps of expired keys.
const sweepEvery = 4096

// Allow implements Store with GCRA: an event at now fits when the
// theoretical arrival time, moved on by one emission interval, is at most
// (Burst-1) intervals ahead of now.
func (m *Memory) Allow(_ context.Context, key string, r Rate) (Result, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.maybeSweep(now)
	return gcra(m.tat, key, r, now), nil
}

func gcra(tats map[string]time.Time, key string, r Rate, now time.Time) Result {
	iv := r.interval()
	tolerance := iv * time.Duration(r.Burst)
	tat, ok := tats[key]
	if !ok || tat.Before(now) {
		tat = now
	}
	newTAT := tat.Add(iv)
	allowAt := newTAT.Add(-tolerance)
	if d := allowAt.Sub(now); d > 0 {
		rem := int((tolerance - tat.Sub(now)) / iv)
		return Result{Allowed: false, Remaining: max(rem, 0), RetryAfter: d}
	}
	tats[key] = newTAT
	rem := int((tolerance - newTAT.Sub(now)) / iv)
	return Result{Allowed: true, Remaining: max(rem, 0)}
}

// Acquire implements Store.
func (m *Memory) Acquire(_ context.Context, key, lease string, max int, ttl time.Duration) (bool, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.maybeSweep(now)
	set := m.slots[key]
	for l, exp := range set {
		if !exp.After(now) {
			delete(set, l)
		}
	}
	if len(set) >= max {
		return false, nil
	}
	if set == nil {
		set = map[string]time.Time{}
		m.slots[key] = set
	}
	set[lease] = now.Add(ttl)
	return true, nil
}

// Release implements Store.
func (m *Memory) Release(_ context.Context, key, lease string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if set := m.slots[key]; set != nil {
		delete(set, lease)
		if len(set) == 0 {
			delete(m.slots, key)
		}
	}
	return nil
}

// Keys reports how many keys hold state, for tests of expiry.
func (m *Memory) Keys() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(m.now())
	return len(m.tat) + len(m.slots)
}

func (m *Memory) maybeSweep(now time.Time) {
	m.ops++
	if m.ops%sweepEvery == 0 {
		m.sweep(now)
	}
}

// sweep drops buckets that have refilled and concurrency sets without a
// live lease: the in-process form of Redis key expiry.
func (m *Memory) sweep(now time.Time) {
	for k, tat := range m.tat {
		if !tat.After(now) {
			delete(m.tat, k)
		}
	}
	for k, set := range m.slots {
		for l, exp := range set {
			if !exp.After(now) {
				delete(set, l)
			}
		}
		if len(set) == 0 {
			delete(m.slots, k)
		}
	}
}
