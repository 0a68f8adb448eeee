package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Redis is the Store shared by every replica: rates are redis_rate's GCRA
// script (state is one key per bucket, with an expiry of the time it takes
// to refill), concurrency slots are a sorted set of leases scored by their
// expiry. Both scripts read Redis's own clock, so replicas with skewed
// clocks still agree.
type Redis struct {
	rdb    redis.UniversalClient
	rates  *redis_rate.Limiter
	prefix string
}

// NewRedis returns a Store on rdb; prefix namespaces every key (several
// gateways may share one Redis).
func NewRedis(rdb redis.UniversalClient, prefix string) *Redis {
	return &Redis{rdb: rdb, rates: redis_rate.NewLimiter(rdb), prefix: prefix}
}

// Allow implements Store.
func (s *Redis) Allow(ctx context.Context, key string, r Rate) (Result, error) {
	res, err := s.rates.Allow(ctx, s.prefix+key, redis_rate.Limit{Rate: r.Limit, Period: r.Period, Burst: r.Burst})
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrStore, err)
	}
	out := Result{Allowed: res.Allowed > 0, Remaining: res.Remaining}
	if !out.Allowed {
		out.RetryAfter = max(res.RetryAfter, time.Millisecond)
	}
	return out, nil
}

// acquireScript drops expired leases, then adds this one when a slot is
// free. KEYS[1] the set; ARGV lease, max, ttl in milliseconds.
var acquireScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`)

// Acquire implements Store.
func (s *Redis) Acquire(ctx context.Context, key, lease string, max int, ttl time.Duration) (bool, error) {
	n, err := acquireScript.Run(ctx, s.rdb, []string{s.prefix + "conc:" + key}, lease, max, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrStore, err)
	}
	return n == 1, nil
}

// Release implements Store.
func (s *Redis) Release(ctx context.Context, key, lease string) error {
	if err := s.rdb.ZRem(ctx, s.prefix+"conc:"+key, lease).Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrStore, err)
	}
	return nil
}
