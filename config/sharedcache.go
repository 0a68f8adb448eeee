package config

import "time"

// DefaultSharedCacheTTLMargin is the default of
// aws_sts_config.shared_cache.ttl_margin.
const DefaultSharedCacheTTLMargin = time.Minute

// SharedCache is aws_sts_config.shared_cache: STS credentials shared by
// every replica through the Redis of rate_limits.redis, encrypted with
// AES-256-GCM under a key every replica reads from a file or an
// environment variable, so STS calls do not multiply with replicas (see
// docs/rate-limits.md).
type SharedCache struct {
	// Enabled turns the shared cache on. Default false: each replica keeps
	// its own credentials.
	Enabled bool `yaml:"enabled"`
	// KeyFile holds the key: standard base64 of at least 32 random bytes.
	// Exactly one of key_file and key_env is required when enabled.
	KeyFile string `yaml:"key_file"`
	// KeyEnv names the environment variable holding the key (base64).
	KeyEnv string `yaml:"key_env"`
	// TTLMargin: an entry leaves Redis this long before its credentials
	// stop being usable, so no replica adopts credentials about to expire.
	// Default 1m; shorter than session_duration.
	TTLMargin time.Duration `yaml:"ttl_margin"`
}

// validateSharedCache checks aws_sts_config.shared_cache.
func (c *Config) validateSharedCache(ps *Problems) {
	s := c.STS.SharedCache
	const p = "aws_sts_config.shared_cache"
	if s.TTLMargin < 0 || (c.STS.SessionDuration > 0 && s.TTLMargin >= c.STS.SessionDuration) {
		ps.add(p+".ttl_margin", "must be at least 0 and shorter than aws_sts_config.session_duration, got %s", s.TTLMargin)
	}
	if !s.Enabled {
		return
	}
	if c.RateLimits == nil || c.RateLimits.Redis.Address == "" {
		ps.add(p+".enabled", "needs rate_limits.redis.address: the cache is kept in that Redis")
	}
	switch {
	case s.KeyFile != "" && s.KeyEnv != "":
		ps.add(p+".key_env", "set key_file or key_env, not both")
	case s.KeyFile == "" && s.KeyEnv == "":
		ps.add(p+".key_file", "required (or key_env) when the shared cache is enabled")
	}
}
