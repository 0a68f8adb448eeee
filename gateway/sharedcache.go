package gateway

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/sts"
)

// buildSharedCache builds the credential cache shared by replicas in the
// Redis of rate_limits (aws_sts_config.shared_cache); nil, nil when it is
// not enabled. The returned client must be closed after the broker.
func buildSharedCache(cfg *config.Config, log *slog.Logger) (*sts.SharedCache, *redis.Client, error) {
	sc := cfg.STS.SharedCache
	if !sc.Enabled {
		return nil, nil, nil
	}
	if cfg.RateLimits == nil || cfg.RateLimits.Redis.Address == "" {
		return nil, nil, errors.New("aws_sts_config.shared_cache needs rate_limits.redis.address")
	}
	key, err := sharedCacheKey(sc)
	if err != nil {
		return nil, nil, err
	}
	rdb, err := RedisClient(cfg.RateLimits.Redis)
	if err != nil {
		return nil, nil, err
	}
	c, err := sts.NewSharedCache(sts.SharedCacheOptions{
		Store: redisCredStore{rdb}, Key: key, Prefix: cfg.RateLimits.Redis.KeyPrefix,
		TTLMargin: sc.TTLMargin, Logger: log,
	})
	if err != nil {
		rdb.Close()
		return nil, nil, err
	}
	return c, rdb, nil
}

// sharedCacheKey reads the key (standard base64) from its file or
// environment variable. Neither the key nor its source's content is ever
// part of an error.
func sharedCacheKey(sc config.SharedCache) ([]byte, error) {
	var raw string
	switch {
	case sc.KeyFile != "":
		b, err := os.ReadFile(sc.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("read aws_sts_config.shared_cache.key_file: %w", err)
		}
		raw = string(b)
	case sc.KeyEnv != "":
		v, ok := os.LookupEnv(sc.KeyEnv)
		if !ok || v == "" {
			return nil, fmt.Errorf("aws_sts_config.shared_cache: environment variable %s is not set", sc.KeyEnv)
		}
		raw = v
	default:
		return nil, errors.New("aws_sts_config.shared_cache: key_file or key_env is required")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(raw))
	if err != nil {
		return nil, errors.New("aws_sts_config.shared_cache: the key is not standard base64")
	}
	if len(key) < sts.SharedKeySize {
		return nil, fmt.Errorf("aws_sts_config.shared_cache: the key has %d bytes, at least %d are required", len(key), sts.SharedKeySize)
	}
	return key, nil
}

// redisCredStore is sts.SharedStore on Redis.
type redisCredStore struct{ rdb *redis.Client }

// unlockCreds deletes a lock only while it holds the caller's token, so a
// replica whose lock expired never releases another replica's.
var unlockCreds = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

func (s redisCredStore) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := s.rdb.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("redis get: %w", err)
	}
	return v, nil
}

func (s redisCredStore) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	if err := s.rdb.Set(ctx, key, val, ttl).Err(); err != nil {
		return fmt.Errorf("redis set: %w", err)
	}
	return nil
}

func (s redisCredStore) Lock(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, key, token, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("redis lock: %w", err)
	}
	return ok, nil
}

func (s redisCredStore) Unlock(ctx context.Context, key, token string) error {
	if err := unlockCreds.Run(ctx, s.rdb, []string{key}, token).Err(); err != nil {
		return fmt.Errorf("redis unlock: %w", err)
	}
	return nil
}
