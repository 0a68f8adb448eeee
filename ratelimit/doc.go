// Package ratelimit decides, after authorization, whether a request fits
// the configured quotas: rates with bursts (GCRA, the generic cell rate
// algorithm) and concurrency caps, per user, per (user, tool), per group
// and per upstream AWS account and region. Limits that matter across
// replicas live in Redis (or Valkey) through go-redis and redis_rate's
// GCRA script; a single replica without Redis uses the in-process Memory
// store, which implements the same algorithm.
//
// A limit with a queue time lets a request over the rate wait, in per-user
// round-robin order, instead of failing at once (fair.go); beyond the wait
// it is refused with a Retry-After. When the store fails, a limit refuses
// (fail closed, 503) unless it is configured to let requests through.
//
// ratelimit must not import extproc, go-control-plane or the AWS SDK.
package ratelimit
