package sts

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"
)

// cacheKey is SHA-256 of everything that decides which credentials a
// request may use: issuer, subject, the verified token's digest, role ARN,
// session name, session policies and the session-tag claims (see
// Broker.key).
type cacheKey [sha256.Size]byte

// entryKey is the half of a cacheKey the cache indexes by. 128 bits of
// SHA-256 keep a collision out of reach: finding another input with a
// given user's key is a second preimage (2^128 work), and a birthday
// collision needs both inputs chosen by one caller, who gains only
// credentials of its own. Half a key saves 16 bytes per cached user in the
// entry and about 25 in the map.
type entryKey [16]byte

func shortKey(k cacheKey) (e entryKey) {
	copy(e[:], k[:])
	return e
}

// CacheResult says how a request was served, for metrics.
type CacheResult string

// The cache results reported to Observer.OnCache.
const (
	// CacheHit: fresh cached credentials.
	CacheHit CacheResult = "hit"
	// CacheRefresh: cached credentials inside the refresh window; they
	// were served while a background refresh runs (or backs off).
	CacheRefresh CacheResult = "refresh"
	// CacheMiss: no usable entry; the request waited for STS.
	CacheMiss CacheResult = "miss"
)

// entry is one user's credentials for one role, linked into the LRU list.
// There is one per cached user, so its fields are kept small: 77 bytes
// (an 80-byte allocation) besides the map slot and the grant's blob
// (compactGrant, compact.go).
type entry struct {
	key   entryKey
	grant compactGrant
	// retryAt is when the next background refresh may start after a
	// failed one, in Unix nanoseconds; 0 means at once.
	retryAt    int64
	failures   int32
	refreshing bool
	prev, next *entry
}

// cache is a bounded LRU of entries. One mutex guards the map and the
// list: a hit holds it for a map lookup and two pointer swaps.
type cache struct {
	mu     sync.Mutex
	max    int
	margin time.Duration
	m      map[entryKey]*entry
	root   entry // sentinel: root.next is the most recently used
	// hot holds the restored values of recently served entries, one slot
	// per key prefix (restoredFor), so a hit of an entry served before
	// does not re-encode its session token.
	hot [hotSlots]atomic.Pointer[restored]
}

// hotSlots bounds the restored values a cache keeps: with a ~1 KB token,
// each slot holds about 2 KB (the values and the blob they came from), so
// at most ~2 MB whatever the number of users.
const hotSlots = 1024

// restoredFor returns cg's restored values, from the slot of k when they
// are there. A slot is trusted only for the exact roleARN and blob it was
// restored from (restored.of), so an entry another user shares the slot
// with, or a refreshed entry, is restored anew; restoring is a pure
// function of those two strings, so what a hit returns is what restoring
// would.
func (c *cache) restoredFor(k entryKey, cg compactGrant) *restored {
	slot := &c.hot[binary.LittleEndian.Uint16(k[:])%hotSlots]
	if r := slot.Load(); r != nil && r.of(cg) {
		return r
	}
	r := cg.restore()
	slot.Store(r)
	return r
}

func newCache(max int, margin time.Duration) *cache {
	c := &cache{max: max, margin: margin, m: make(map[entryKey]*entry)}
	c.root.next, c.root.prev = &c.root, &c.root
	return c
}

// get returns the credentials to serve for key at now, if any (a Grant of
// its own, restored from the compact copy). When they are
// inside the refresh window and a refresh may start (canRefresh, none
// running, not backing off), it marks the entry as refreshing and reports
// startRefresh: the caller then owns that refresh.
func (c *cache) get(key cacheKey, now time.Time, canRefresh bool) (g *Grant, res CacheResult, startRefresh bool) {
	k := shortKey(key)
	c.mu.Lock()
	e := c.m[k]
	if e == nil || !now.Before(e.grant.notAfter()) {
		c.mu.Unlock()
		return nil, CacheMiss, false
	}
	c.moveToFront(e)
	cg := e.grant
	res = CacheRefresh
	if now.Before(cg.notAfter().Add(-c.margin)) {
		res = CacheHit
	} else if canRefresh && !e.refreshing && now.UnixNano() >= e.retryAt {
		e.refreshing = true
		startRefresh = true
	}
	c.mu.Unlock()
	// Restored outside the lock: the blob is immutable.
	return cg.grantWith(c.restoredFor(k, cg)), res, startRefresh
}

// put stores fresh credentials for key and returns the number of entries.
// A grant with a value too long for the compact form is not cached.
func (c *cache) put(key cacheKey, g *Grant) int {
	if !compactable(g) {
		return c.len()
	}
	cg := compact(g)
	k := shortKey(key)
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[k]; e != nil {
		if !g.NotAfter.Before(e.grant.notAfter()) {
			e.grant = cg
		}
		e.refreshing, e.failures, e.retryAt = false, 0, 0
		c.moveToFront(e)
		return len(c.m)
	}
	e := &entry{key: k, grant: cg}
	c.m[k] = e
	c.pushFront(e)
	for len(c.m) > c.max {
		last := c.root.prev
		c.unlink(last)
		delete(c.m, last.key)
	}
	return len(c.m)
}

// refreshFailed ends a failed background refresh: the entry keeps serving
// its still-valid credentials and the next refresh waits for a backoff that
// doubles with each failure, from base up to max.
func (c *cache) refreshFailed(key cacheKey, now time.Time, base, max time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[shortKey(key)]
	if e == nil {
		return
	}
	e.refreshing = false
	e.failures++
	d := base
	for i := int32(1); i < e.failures && d < max; i++ {
		d *= 2
	}
	e.retryAt = now.Add(min(d, max)).UnixNano()
}

// dropExpired removes key when its credentials are no longer usable, after
// a blocking STS call for it failed. It returns the number of entries.
func (c *cache) dropExpired(key cacheKey, now time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[shortKey(key)]; e != nil && !now.Before(e.grant.notAfter()) {
		c.unlink(e)
		delete(c.m, e.key)
	}
	return len(c.m)
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

func (c *cache) pushFront(e *entry) {
	e.prev, e.next = &c.root, c.root.next
	c.root.next.prev = e
	c.root.next = e
}

func (c *cache) unlink(e *entry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (c *cache) moveToFront(e *entry) {
	if c.root.next == e {
		return
	}
	c.unlink(e)
	c.pushFront(e)
}
