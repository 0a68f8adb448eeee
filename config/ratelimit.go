package config

import (
	"fmt"
	"time"
)

// RateLimits configures quotas decided after authorization
// (docs/rate-limits.md). Nil when the file has no rate_limits section:
// no limits apply.
type RateLimits struct {
	// Redis holds the shared state; without an address the limits are
	// kept in process (one replica only).
	Redis Redis `yaml:"redis"`
	// AWSMCPDefaults adds the AWS MCP Server's own per-account quotas
	// (3 requests/s per account and region, 27 concurrent connections)
	// for aws-mcp upstreams, unless a limit of that name is configured.
	// Default true.
	AWSMCPDefaults *bool `yaml:"aws_mcp_defaults"`
	// Limits are the configured limits.
	Limits []RateLimit `yaml:"limits"`
}

// Redis is the connection to the shared Redis (or Valkey).
type Redis struct {
	// Address is host:port. Empty: no Redis.
	Address  string `yaml:"address"`
	Username string `yaml:"username"`
	// PasswordFile and PasswordEnv name where the password is read from
	// (never the file itself); at most one.
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
	DB           int    `yaml:"db"`
	// KeyPrefix namespaces every key. Default "mcpguard:".
	KeyPrefix string `yaml:"key_prefix"`
	// TLS turns on TLS to Redis.
	TLS RedisTLS `yaml:"tls"`
	// DialTimeout and Timeout (reads and writes) bound each call, so an
	// outage fails fast instead of holding requests. Defaults 500ms, 250ms.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	Timeout     time.Duration `yaml:"timeout"`
}

// RedisTLS configures TLS to Redis.
type RedisTLS struct {
	Enabled bool `yaml:"enabled"`
	// CAFile is the PEM bundle that verifies the server; default the
	// system roots.
	CAFile string `yaml:"ca_file"`
	// ServerName overrides the name verified; default the address's host.
	ServerName string `yaml:"server_name"`
}

// RateLimit is one limit.
type RateLimit struct {
	// Name labels metrics and audit records; unique, [a-z0-9_-]+.
	Name string `yaml:"name"`
	// Scope is user, user_tool, group or account (AWS account and region).
	Scope string `yaml:"scope"`
	// Groups are the groups of a group limit, each with its own budget.
	Groups []string `yaml:"groups"`
	// Tools restricts the limit to calls of these tools; empty: all.
	Tools []string `yaml:"tools"`
	// Service restricts the limit to upstreams of this SigV4 service.
	Service string `yaml:"service"`
	// Rate events per Period, Burst of them at once. Rate 0: no rate.
	// Defaults period 1s, burst 1.
	Rate   int           `yaml:"rate"`
	Period time.Duration `yaml:"period"`
	Burst  int           `yaml:"burst"`
	// Concurrency caps requests in flight; 0: no cap.
	Concurrency int `yaml:"concurrency"`
	// LeaseTTL bounds a slot a crashed replica never released. Default 15m.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// QueueTime lets a request over the rate wait in fair per-user order;
	// 0 refuses at once. At most 2.5s, half of Envoy's message_timeout.
	QueueTime time.Duration `yaml:"queue_time"`
	// MaxQueuedPerUser bounds one user's waiting requests. Default 1.
	MaxQueuedPerUser int `yaml:"max_queued_per_user"`
	// OnStoreError is deny (default: 503 with Retry-After) or allow.
	OnStoreError string `yaml:"on_store_error"`
}

// Defaults of rate_limits and the AWS MCP Server's quotas.
const (
	DefaultRedisKeyPrefix   = "mcpguard:"
	DefaultRedisDialTimeout = 500 * time.Millisecond
	DefaultRedisTimeout     = 250 * time.Millisecond
	DefaultLeaseTTL         = 15 * time.Minute
	MaxQueueTime            = 2500 * time.Millisecond
	// AWSMCPAccountRate and AWSMCPConnections are the AWS MCP Server's
	// quotas per account and region.
	AWSMCPAccountRate = 3
	AWSMCPConnections = 27
	// AWSMCPQueueTime is the default fair-queue wait of the account rate.
	AWSMCPQueueTime = 1500 * time.Millisecond
	// AWSMCPRateLimit and AWSMCPConnectionLimit name the default limits.
	AWSMCPRateLimit       = "aws_mcp_account_rate"
	AWSMCPConnectionLimit = "aws_mcp_account_connections"
)

// DefaultsEnabled reports AWSMCPDefaults with its default.
func (r *RateLimits) DefaultsEnabled() bool { return r.AWSMCPDefaults == nil || *r.AWSMCPDefaults }

// Effective returns the limits with defaults filled and, when enabled,
// the AWS MCP Server's quotas added.
func (r *RateLimits) Effective() []RateLimit {
	out := make([]RateLimit, 0, len(r.Limits)+2)
	has := map[string]bool{}
	for _, l := range r.Limits {
		has[l.Name] = true
		out = append(out, l.withDefaults())
	}
	if r.DefaultsEnabled() {
		if !has[AWSMCPRateLimit] {
			out = append(out, RateLimit{Name: AWSMCPRateLimit, Scope: "account", Service: "aws-mcp", Rate: AWSMCPAccountRate,
				QueueTime: AWSMCPQueueTime, MaxQueuedPerUser: 2}.withDefaults())
		}
		if !has[AWSMCPConnectionLimit] {
			out = append(out, RateLimit{Name: AWSMCPConnectionLimit, Scope: "account", Service: "aws-mcp", Concurrency: AWSMCPConnections}.withDefaults())
		}
	}
	return out
}

func (l RateLimit) withDefaults() RateLimit {
	if l.Period == 0 {
		l.Period = time.Second
	}
	if l.Burst == 0 {
		l.Burst = 1
	}
	if l.LeaseTTL == 0 {
		l.LeaseTTL = DefaultLeaseTTL
	}
	if l.MaxQueuedPerUser == 0 {
		l.MaxQueuedPerUser = 1
	}
	if l.OnStoreError == "" {
		l.OnStoreError = "deny"
	}
	return l
}

func (c *Config) fillRateLimits() {
	r := c.RateLimits
	if r == nil {
		return
	}
	if r.Redis.KeyPrefix == "" {
		r.Redis.KeyPrefix = DefaultRedisKeyPrefix
	}
	if r.Redis.DialTimeout == 0 {
		r.Redis.DialTimeout = DefaultRedisDialTimeout
	}
	if r.Redis.Timeout == 0 {
		r.Redis.Timeout = DefaultRedisTimeout
	}
}

func (c *Config) validateRateLimits(ps *Problems) {
	r := c.RateLimits
	if r == nil {
		return
	}
	const p = "rate_limits"
	if r.Redis.PasswordFile != "" && r.Redis.PasswordEnv != "" {
		ps.add(p+".redis.password_env", "set password_file or password_env, not both")
	}
	if r.Redis.Address == "" && (r.Redis.PasswordFile != "" || r.Redis.PasswordEnv != "" || r.Redis.TLS.Enabled) {
		ps.add(p+".redis.address", "required when a password or TLS is configured")
	}
	if r.Redis.DB < 0 {
		ps.add(p+".redis.db", "must not be negative")
	}
	seen := map[string]bool{}
	for i, l := range r.Limits {
		at := fmt.Sprintf("%s.limits[%d]", p, i)
		if !upstreamNameRE.MatchString(l.Name) {
			ps.add(at+".name", "must match [a-z0-9][a-z0-9_-]*, got %q", l.Name)
		} else if seen[l.Name] {
			ps.add(at+".name", "duplicate limit %q", l.Name)
		}
		seen[l.Name] = true
		switch l.Scope {
		case "user", "user_tool", "account":
			if len(l.Groups) > 0 {
				ps.add(at+".groups", "only for scope group")
			}
		case "group":
			if len(l.Groups) == 0 {
				ps.add(at+".groups", "required for scope group")
			}
		default:
			ps.add(at+".scope", "must be user, user_tool, group or account, got %q", l.Scope)
		}
		if l.Rate < 0 || l.Burst < 0 || l.Period < 0 || l.Concurrency < 0 || l.MaxQueuedPerUser < 0 || l.LeaseTTL < 0 || l.QueueTime < 0 {
			ps.add(at, "rate, burst, period, concurrency, lease_ttl, queue_time and max_queued_per_user must not be negative")
		}
		if l.Rate == 0 && l.Concurrency == 0 {
			ps.add(at, "needs a rate or a concurrency cap")
		}
		if l.QueueTime > MaxQueueTime {
			ps.add(at+".queue_time", "at most %s, half of Envoy's message_timeout, got %s", MaxQueueTime, l.QueueTime)
		}
		if l.QueueTime > 0 && l.Rate == 0 {
			ps.add(at+".queue_time", "only with a rate")
		}
		switch l.OnStoreError {
		case "", "deny", "allow":
		default:
			ps.add(at+".on_store_error", "must be deny or allow, got %q", l.OnStoreError)
		}
	}
}
