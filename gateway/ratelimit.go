package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/ratelimit"
)

// quotas is the rate-limit stage and what it holds open.
type quotas struct {
	limiter *ratelimit.Limiter
	rdb     *redis.Client // nil: in-process store
}

func (q *quotas) close() {
	if q == nil {
		return
	}
	q.limiter.Close()
	if q.rdb != nil {
		q.rdb.Close()
	}
}

// buildQuotas builds the limiter of rate_limits, on Redis when an address
// is configured; nil without a rate_limits section.
func (g *Gateway) buildQuotas() (*quotas, error) {
	rl := g.cfg.RateLimits
	if rl == nil {
		return nil, nil
	}
	q := &quotas{}
	var store ratelimit.Store
	if rl.Redis.Address != "" {
		rdb, err := RedisClient(rl.Redis)
		if err != nil {
			return nil, err
		}
		q.rdb = rdb
		store = ratelimit.NewRedis(rdb, rl.Redis.KeyPrefix)
	} else {
		store = ratelimit.NewMemory(nil)
		g.log.Info("rate limits kept in process: they hold for this replica only (set rate_limits.redis.address to share them)")
	}
	var limits []ratelimit.Limit
	for _, l := range rl.Effective() {
		lim := ratelimit.Limit{
			Name: l.Name, Scope: ratelimit.Scope(l.Scope), Groups: l.Groups, Tools: l.Tools, Service: l.Service,
			Concurrency: l.Concurrency, LeaseTTL: l.LeaseTTL, QueueTime: l.QueueTime,
			MaxQueuedPerUser: l.MaxQueuedPerUser, FailOpen: l.OnStoreError == "allow",
		}
		if l.Rate > 0 {
			lim.Rate = ratelimit.Rate{Limit: l.Rate, Period: l.Period, Burst: l.Burst}
		}
		limits = append(limits, lim)
	}
	var err error
	q.limiter, err = ratelimit.New(ratelimit.Options{
		Store: store, Limits: limits, Logger: g.log.With("stage", "ratelimit"),
		OnDecision: g.metrics.RateLimit, OnQueueWait: g.metrics.RateLimitQueue,
	})
	if err != nil {
		if q.rdb != nil {
			q.rdb.Close()
		}
		return nil, fmt.Errorf("build rate limits: %w", err)
	}
	return q, nil
}

// RedisClient connects to the Redis of cfg: TLS as configured, the
// password read from its file or environment variable (and never logged:
// go-redis does not print its options).
func RedisClient(cfg config.Redis) (*redis.Client, error) {
	pw, err := redisPassword(cfg)
	if err != nil {
		return nil, err
	}
	o := &redis.Options{
		Addr: cfg.Address, Username: cfg.Username, Password: pw, DB: cfg.DB,
		DialTimeout: cfg.DialTimeout, ReadTimeout: cfg.Timeout, WriteTimeout: cfg.Timeout,
		// One try: a retry would hold the request past Envoy's deadline.
		MaxRetries: -1,
		// RESP2 keeps the handshake to what Redis 6+ and Valkey all speak.
		Protocol: 2,
	}
	if cfg.TLS.Enabled {
		host, _, err := net.SplitHostPort(cfg.Address)
		if err != nil {
			return nil, fmt.Errorf("rate_limits.redis.address: %w", err)
		}
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
		if cfg.TLS.ServerName != "" {
			tc.ServerName = cfg.TLS.ServerName
		}
		if cfg.TLS.CAFile != "" {
			pem, err := os.ReadFile(cfg.TLS.CAFile)
			if err != nil {
				return nil, fmt.Errorf("read redis CA bundle: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, errors.New("redis CA bundle holds no PEM certificate")
			}
		}
		o.TLSConfig = tc
	}
	return redis.NewClient(o), nil
}

func redisPassword(cfg config.Redis) (string, error) {
	switch {
	case cfg.PasswordFile != "":
		b, err := os.ReadFile(cfg.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("read redis password file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	case cfg.PasswordEnv != "":
		v, ok := os.LookupEnv(cfg.PasswordEnv)
		if !ok || v == "" {
			return "", fmt.Errorf("redis password: environment variable %s is not set", cfg.PasswordEnv)
		}
		return v, nil
	}
	return "", nil
}
