package ratelimit

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/mcpguard/mcpguard"
)

// Scope is what a limit counts per.
type Scope string

// The scopes of a limit.
const (
	// ScopeUser counts per authenticated user.
	ScopeUser Scope = "user"
	// ScopeUserTool counts per user and tool: a batch calling two tools
	// counts once against each.
	ScopeUserTool Scope = "user_tool"
	// ScopeGroup counts per group the user is in (of Limit.Groups): every
	// member shares the group's budget.
	ScopeGroup Scope = "group"
	// ScopeAccount counts per upstream AWS account and region, the unit of
	// the AWS MCP Server's own quotas.
	ScopeAccount Scope = "account"
)

// Limit is one configured limit.
type Limit struct {
	// Name labels metrics and audit records; unique.
	Name  string
	Scope Scope
	// Groups are the groups a group limit applies to (each has its own
	// budget); users in none of them are not counted.
	Groups []string
	// Tools restricts the limit to requests calling these tools; empty
	// means every request (for user_tool: every tools/call).
	Tools []string
	// Service restricts the limit to upstreams signed for this SigV4
	// service ("aws-mcp"); empty means every upstream.
	Service string
	// Rate is the GCRA rate; zero means no rate.
	Rate Rate
	// Concurrency caps requests in flight; 0 means no cap.
	Concurrency int
	// LeaseTTL bounds how long a concurrency slot outlives a replica that
	// crashed while holding it.
	LeaseTTL time.Duration
	// QueueTime lets a request over the rate wait this long, in fair
	// per-user order; 0 refuses at once.
	QueueTime time.Duration
	// MaxQueuedPerUser bounds one user's waiting requests per key.
	MaxQueuedPerUser int
	// FailOpen lets requests through when the store fails; the default
	// (false) refuses them with 503.
	FailOpen bool
}

// Request is what a limit decision looks at.
type Request struct {
	User    string
	Groups  []string
	Tools   []string // tools called (tools/call, batches included)
	Account string   // AWS account the request is signed for; "" unknown
	Region  string
	Service string
}

// Applied is one limit that applied to a request, for the audit record.
type Applied struct {
	Name   string
	Scope  Scope
	Waited time.Duration // time spent in the fair queue
	// Remaining is the rate budget left after this request (-1 when the
	// limit has no rate).
	Remaining int
}

// Options configure a Limiter.
type Options struct {
	Store  Store
	Limits []Limit
	Logger *slog.Logger
	// OnDecision counts a decision of a limit: allowed, queued, rejected,
	// store_error.
	OnDecision func(limit, result string)
	// OnQueueWait observes the wait of a queued request, granted or not.
	OnQueueWait func(limit string, d time.Duration)
}

// Limiter applies the limits to requests.
type Limiter struct {
	o      Options
	limits []Limit

	qmu    sync.Mutex
	queues map[string]*fairQueue
	bg     context.Context
	stop   context.CancelFunc
	wg     sync.WaitGroup
}

// DefaultLeaseTTL is a concurrency slot's lifetime without Release.
const DefaultLeaseTTL = 15 * time.Minute

// New checks the limits and returns a Limiter; Close ends its queues.
func New(o Options) (*Limiter, error) {
	if o.Store == nil {
		return nil, errors.New("ratelimit: a store is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.OnDecision == nil {
		o.OnDecision = func(string, string) {}
	}
	if o.OnQueueWait == nil {
		o.OnQueueWait = func(string, time.Duration) {}
	}
	seen := map[string]bool{}
	for i, l := range o.Limits {
		switch {
		case l.Name == "" || seen[l.Name]:
			return nil, fmt.Errorf("ratelimit: limit %d: a unique name is required", i)
		case l.Rate.IsZero() && l.Concurrency <= 0:
			return nil, fmt.Errorf("ratelimit: limit %q has neither a rate nor a concurrency cap", l.Name)
		case !l.Rate.IsZero() && (l.Rate.Limit < 0 || l.Rate.Period <= 0 || l.Rate.Burst <= 0):
			return nil, fmt.Errorf("ratelimit: limit %q: rate needs a positive limit, period and burst", l.Name)
		}
		switch l.Scope {
		case ScopeUser, ScopeUserTool, ScopeAccount:
		case ScopeGroup:
			if len(l.Groups) == 0 {
				return nil, fmt.Errorf("ratelimit: group limit %q names no groups", l.Name)
			}
		default:
			return nil, fmt.Errorf("ratelimit: limit %q: unknown scope %q", l.Name, l.Scope)
		}
		if l.LeaseTTL <= 0 {
			o.Limits[i].LeaseTTL = DefaultLeaseTTL
		}
		if o.Limits[i].MaxQueuedPerUser <= 0 {
			o.Limits[i].MaxQueuedPerUser = 1
		}
		seen[l.Name] = true
	}
	bg, stop := context.WithCancel(context.Background())
	return &Limiter{o: o, limits: o.Limits, queues: map[string]*fairQueue{}, bg: bg, stop: stop}, nil
}

// Close stops the queues' dispatchers; waiting requests are refused.
func (l *Limiter) Close() {
	l.stop()
	l.wg.Wait()
}

// Limits returns the configured limits.
func (l *Limiter) Limits() []Limit { return slices.Clone(l.limits) }

// Ticket is an admitted request: Release frees its concurrency slots.
type Ticket struct {
	l       *Limiter
	Applied []Applied
	held    []held
	once    sync.Once
}

type held struct{ key, lease string }

// Release frees the request's concurrency slots; safe on nil and twice.
func (t *Ticket) Release() {
	if t == nil {
		return
	}
	t.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		for _, h := range t.held {
			if err := t.l.o.Store.Release(ctx, h.key, h.lease); err != nil {
				// The lease expires on its own after lease_ttl.
				t.l.o.Logger.Warn("release concurrency slot", "error", err)
			}
		}
	})
}

// check is one (limit, key) pair a request is counted under.
type check struct {
	lim *Limit
	key string
}

// checksFor lists the keys a request counts under, in decision order:
// immediate rates first (cheap refusals), then concurrency, then the
// queued rates, so a request never waits only to be refused afterwards.
func (l *Limiter) checksFor(r Request) []check {
	var out []check
	for i := range l.limits {
		lim := &l.limits[i]
		if lim.Service != "" && lim.Service != r.Service {
			continue
		}
		if len(lim.Tools) > 0 && !slices.ContainsFunc(r.Tools, func(t string) bool { return slices.Contains(lim.Tools, t) }) {
			continue
		}
		switch lim.Scope {
		case ScopeUser:
			out = append(out, check{lim, keyOf(lim.Name, "u", r.User)})
		case ScopeUserTool:
			tools := slices.Clone(r.Tools)
			slices.Sort(tools)
			for _, t := range slices.Compact(tools) {
				if len(lim.Tools) == 0 || slices.Contains(lim.Tools, t) {
					out = append(out, check{lim, keyOf(lim.Name, "ut", r.User, t)})
				}
			}
		case ScopeGroup:
			for _, g := range lim.Groups {
				if slices.Contains(r.Groups, g) {
					out = append(out, check{lim, keyOf(lim.Name, "g", g)})
				}
			}
		case ScopeAccount:
			out = append(out, check{lim, keyOf(lim.Name, "a", r.Account, r.Region)})
		}
	}
	rank := func(c check) int {
		switch {
		case !c.lim.Rate.IsZero() && c.lim.QueueTime == 0:
			return 0
		case c.lim.Concurrency > 0 && c.lim.Rate.IsZero():
			return 1
		default:
			return 2
		}
	}
	slices.SortStableFunc(out, func(a, b check) int { return rank(a) - rank(b) })
	return out
}

// keyOf names a bucket by a digest of its parts, so user names and tool
// names of any length or content make bounded, unambiguous keys.
func keyOf(name string, parts ...string) string {
	var buf [256]byte
	b := buf[:0]
	for _, p := range append([]string{name}, parts...) {
		b = strconv.AppendInt(b, int64(len(p)), 10)
		b = append(b, ':')
		b = append(b, p...)
	}
	sum := sha256.Sum256(b)
	return "mcpguard:" + hex.EncodeToString(sum[:16])
}

// Admit decides whether r may go on, waiting in a fair queue where a limit
// allows it. The error is a *mcpguard.Error: KindRateLimited (429) when a
// limit refuses, KindUnavailable (503) when the store fails under a
// fail-closed limit; RetryAfter reads its wait.
func (l *Limiter) Admit(ctx context.Context, r Request) (*Ticket, error) {
	t := &Ticket{l: l}
	for _, c := range l.checksFor(r) {
		ap, err := l.apply(ctx, t, c, r.User)
		if err != nil {
			t.Release() //nolint:contextcheck // a held slot is released even when the request was cancelled
			return nil, err
		}
		t.Applied = append(t.Applied, ap)
	}
	return t, nil
}

func (l *Limiter) apply(ctx context.Context, t *Ticket, c check, user string) (Applied, error) {
	lim := c.lim
	ap := Applied{Name: lim.Name, Scope: lim.Scope, Remaining: -1}
	if lim.Concurrency > 0 {
		lease := newLease()
		ok, err := l.o.Store.Acquire(ctx, c.key, lease, lim.Concurrency, lim.LeaseTTL)
		if err != nil {
			return ap, l.storeFailed(lim, err)
		}
		if !ok {
			l.o.OnDecision(lim.Name, "rejected")
			return ap, refuse(lim, "concurrency", time.Second)
		}
		t.held = append(t.held, held{c.key, lease})
	}
	if !lim.Rate.IsZero() {
		var res Result
		var err error
		if lim.QueueTime > 0 {
			res, ap.Waited, err = l.queued(ctx, c, user)
		} else {
			res, err = l.o.Store.Allow(ctx, c.key, lim.Rate)
			if err == nil && !res.Allowed {
				err = refuse(lim, "rate", res.RetryAfter)
			}
		}
		if errors.Is(err, ErrStore) {
			return ap, l.storeFailed(lim, err)
		}
		if err != nil {
			l.o.OnDecision(lim.Name, "rejected")
			return ap, err
		}
		ap.Remaining = res.Remaining
	}
	l.o.OnDecision(lim.Name, "allowed")
	return ap, nil
}

// storeFailed applies the limit's on_store_error choice. It returns nil
// when the limit fails open.
func (l *Limiter) storeFailed(lim *Limit, err error) error {
	l.o.OnDecision(lim.Name, "store_error")
	if lim.FailOpen {
		l.o.Logger.Warn("rate limit store failed; limit not applied (on_store_error: allow)", "limit", lim.Name, "error", err)
		return nil
	}
	return &mcpguard.Error{
		Kind:       mcpguard.KindUnavailable,
		Msg:        "rate limits cannot be checked right now; retry later",
		Err:        &Rejection{Limit: lim.Name, Scope: lim.Scope, Reason: "store_unavailable", After: storeRetryAfter, err: err},
		Reason:     "rate_limit_store_unavailable",
		RetryAfter: storeRetryAfter,
	}
}

// storeRetryAfter is the Retry-After of a refusal because the store failed.
const storeRetryAfter = 2 * time.Second

func newLease() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Rejection is the cause of a refused request: which limit, why, and the
// wait to send as Retry-After.
type Rejection struct {
	Limit  string
	Scope  Scope
	Reason string // rate, concurrency, queue_full, queue_timeout, store_unavailable
	After  time.Duration
	err    error
}

func (r *Rejection) Error() string {
	s := fmt.Sprintf("limit %s (%s): %s", r.Limit, r.Scope, r.Reason)
	if r.err != nil {
		s += ": " + r.err.Error()
	}
	return s
}

func (r *Rejection) Unwrap() error { return r.err }

func refuse(lim *Limit, reason string, after time.Duration) error {
	return &mcpguard.Error{
		Kind:       mcpguard.KindRateLimited,
		Msg:        fmt.Sprintf("rate limit %s exceeded; retry later", lim.Name),
		Err:        &Rejection{Limit: lim.Name, Scope: lim.Scope, Reason: reason, After: after},
		Reason:     reason,
		RetryAfter: after,
	}
}

// RetryAfter is the wait a refusal asks for, or 0 when err is not one.
func RetryAfter(err error) time.Duration {
	var r *Rejection
	if errors.As(err, &r) {
		return r.After
	}
	return 0
}

// RejectionOf returns the rejection in err's chain, or nil.
func RejectionOf(err error) *Rejection {
	var r *Rejection
	if errors.As(err, &r) {
		return r
	}
	return nil
}
