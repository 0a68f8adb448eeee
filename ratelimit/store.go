package ratelimit

import (
	"context"
	"errors"
	"time"
)

// Rate is a GCRA rate: Limit events per Period, of which Burst may come at
// once. Burst 1 spaces events evenly, Period/Limit apart.
type Rate struct {
	Limit  int
	Period time.Duration
	Burst  int
}

// IsZero reports an unset rate (no rate limit).
func (r Rate) IsZero() bool { return r.Limit == 0 }

// interval is GCRA's emission interval: the time one event costs.
func (r Rate) interval() time.Duration { return max(r.Period/time.Duration(r.Limit), time.Nanosecond) }

// Result is what a store says about one event.
type Result struct {
	// Allowed reports the event fits the rate and was counted.
	Allowed bool
	// Remaining is how many more events would fit right now.
	Remaining int
	// RetryAfter is how long until one event would fit (0 when Allowed).
	RetryAfter time.Duration
}

// Store keeps the state of the limits. Keys are opaque; every key expires
// on its own once it carries no state (a bucket that has refilled, a
// concurrency set without live leases), so idle users cost nothing.
type Store interface {
	// Allow counts one event against key's rate when it fits.
	Allow(ctx context.Context, key string, r Rate) (Result, error)
	// Acquire takes one of max concurrency slots of key, held until
	// Release or ttl (which bounds what a crashed replica leaves behind).
	// It returns ok false, without error, when all slots are taken.
	Acquire(ctx context.Context, key, lease string, max int, ttl time.Duration) (ok bool, err error)
	// Release frees a slot Acquire took.
	Release(ctx context.Context, key, lease string) error
}

// ErrStore wraps every failure of the shared store, so the limiter can
// apply a limit's on_store_error choice.
var ErrStore = errors.New("rate limit store unavailable")
