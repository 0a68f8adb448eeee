package ratelimit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/test/redistest"
)

// stores runs a test against the in-process store and a real Redis.
func stores(t *testing.T, f func(t *testing.T, s Store)) {
	t.Helper()
	t.Run("memory", func(t *testing.T) { f(t, NewMemory(nil)) })
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		f(t, NewRedis(srv.Client(t), "test:"))
	})
}

func newLimiter(t *testing.T, s Store, limits ...Limit) *Limiter {
	t.Helper()
	l, err := New(Options{Store: s, Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

// admit reports the refusal reason of one request, "" when admitted.
func admit(t *testing.T, l *Limiter, r Request) string {
	t.Helper()
	tk, err := l.Admit(t.Context(), r)
	if err != nil {
		rej := RejectionOf(err)
		if rej == nil {
			t.Fatalf("Admit: %v", err)
		}
		if k := mcpguard.KindOf(err); k != mcpguard.KindRateLimited && k != mcpguard.KindUnavailable {
			t.Fatalf("kind %v", k)
		}
		return rej.Limit + ":" + rej.Reason
	}
	tk.Release()
	return ""
}

func perMinute(n, burst int) Rate { return Rate{Limit: n, Period: time.Minute, Burst: burst} }

func TestLimitScopes(t *testing.T) {
	stores(t, func(t *testing.T, s Store) { //nolint:thelper // a test body, run once per store
		tests := []struct {
			name  string
			limit Limit
			reqs  []Request
			want  []string
		}{
			{"user", Limit{Name: "u", Scope: ScopeUser, Rate: perMinute(2, 2)},
				[]Request{{User: "a"}, {User: "a"}, {User: "a"}, {User: "b"}},
				[]string{"", "", "u:rate", ""}},
			{"user_tool", Limit{Name: "ut", Scope: ScopeUserTool, Rate: perMinute(1, 1)},
				[]Request{{User: "a", Tools: []string{"x"}}, {User: "a", Tools: []string{"y"}}, {User: "a", Tools: []string{"x"}}, {User: "b", Tools: []string{"x"}}, {User: "a"}},
				[]string{"", "", "ut:rate", "", ""}},
			{"user_tool restricted", Limit{Name: "ut", Scope: ScopeUserTool, Tools: []string{"x"}, Rate: perMinute(1, 1)},
				[]Request{{User: "a", Tools: []string{"y"}}, {User: "a", Tools: []string{"y"}}, {User: "a", Tools: []string{"x", "y"}}, {User: "a", Tools: []string{"x"}}},
				[]string{"", "", "", "ut:rate"}},
			{"group", Limit{Name: "g", Scope: ScopeGroup, Groups: []string{"dev"}, Rate: perMinute(2, 2)},
				[]Request{{User: "a", Groups: []string{"dev"}}, {User: "b", Groups: []string{"dev", "ops"}}, {User: "c", Groups: []string{"dev"}}, {User: "d", Groups: []string{"ops"}}},
				[]string{"", "", "g:rate", ""}},
			{"account", Limit{Name: "acct", Scope: ScopeAccount, Service: "aws-mcp", Rate: perMinute(1, 1)},
				[]Request{{User: "a", Account: "1", Region: "r1", Service: "aws-mcp"}, {User: "b", Account: "1", Region: "r1", Service: "aws-mcp"},
					{User: "b", Account: "1", Region: "r2", Service: "aws-mcp"}, {User: "b", Account: "2", Region: "r1", Service: "aws-mcp"},
					{User: "b", Account: "1", Region: "r1", Service: "other"}},
				[]string{"", "acct:rate", "", "", ""}},
			{"burst", Limit{Name: "b", Scope: ScopeUser, Rate: Rate{Limit: 1, Period: time.Hour, Burst: 3}},
				[]Request{{User: "a"}, {User: "a"}, {User: "a"}, {User: "a"}},
				[]string{"", "", "", "b:rate"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tt.limit.Name += t.Name() // fresh keys per case in the shared Redis
				l := newLimiter(t, s, tt.limit)
				for i, r := range tt.reqs {
					got := admit(t, l, r)
					want := tt.want[i]
					if want != "" {
						want = tt.limit.Name + want[len(want)-len(want[indexColon(want):]):]
					}
					if got != want {
						t.Errorf("request %d (%+v): got %q, want %q", i, r, got, want)
					}
				}
			})
		}
	})
}

func indexColon(s string) int {
	for i := range s {
		if s[i] == ':' {
			return i
		}
	}
	return len(s)
}

func TestRetryAfter(t *testing.T) {
	stores(t, func(t *testing.T, s Store) { //nolint:thelper // a test body, run once per store
		l := newLimiter(t, s, Limit{Name: "ra" + t.Name(), Scope: ScopeUser, Rate: Rate{Limit: 1, Period: 10 * time.Second, Burst: 1}})
		if admit(t, l, Request{User: "a"}) != "" {
			t.Fatal("first refused")
		}
		_, err := l.Admit(t.Context(), Request{User: "a"})
		if ra := RetryAfter(err); ra <= 0 || ra > 10*time.Second {
			t.Fatalf("RetryAfter %v, want in (0, 10s]", ra)
		}
	})
}

func TestConcurrency(t *testing.T) {
	stores(t, func(t *testing.T, s Store) { //nolint:thelper // a test body, run once per store
		l := newLimiter(t, s, Limit{Name: "c" + t.Name(), Scope: ScopeAccount, Concurrency: 2})
		r := Request{User: "a", Account: "1", Region: "r"}
		t1, err := l.Admit(t.Context(), r)
		if err != nil {
			t.Fatal(err)
		}
		t2, err := l.Admit(t.Context(), Request{User: "b", Account: "1", Region: "r"})
		if err != nil {
			t.Fatal(err)
		}
		if got := admit(t, l, r); got == "" {
			t.Fatal("third concurrent request admitted")
		}
		t1.Release()
		t1.Release() // twice is harmless
		t3, err := l.Admit(t.Context(), r)
		if err != nil {
			t.Fatalf("after a release: %v", err)
		}
		t2.Release()
		t3.Release()
	})
}

// TestConcurrencyLeaseExpiry: a slot a crashed replica never released
// frees itself after the lease TTL.
func TestConcurrencyLeaseExpiry(t *testing.T) {
	now := time.Unix(1000, 0)
	m := NewMemory(func() time.Time { return now })
	ok, _ := m.Acquire(t.Context(), "k", "l1", 1, time.Second)
	if !ok {
		t.Fatal("acquire")
	}
	if ok, _ := m.Acquire(t.Context(), "k", "l2", 1, time.Second); ok {
		t.Fatal("second slot")
	}
	now = now.Add(time.Second)
	if ok, _ := m.Acquire(t.Context(), "k", "l2", 1, time.Second); !ok {
		t.Fatal("expired lease still held")
	}
}

// TestMemoryGCRA pins the algorithm with a fake clock: burst at once, then
// one event per emission interval.
func TestMemoryGCRA(t *testing.T) {
	now := time.Unix(1000, 0)
	m := NewMemory(func() time.Time { return now })
	r := Rate{Limit: 3, Period: time.Second, Burst: 2}
	var got []bool
	for range 3 {
		res, _ := m.Allow(t.Context(), "k", r)
		got = append(got, res.Allowed)
	}
	if got[0] != true || got[1] != true || got[2] != false {
		t.Fatalf("burst: %v", got)
	}
	res, _ := m.Allow(t.Context(), "k", r)
	if want := time.Second / 3; res.RetryAfter != want {
		t.Fatalf("RetryAfter %v, want %v", res.RetryAfter, want)
	}
	now = now.Add(time.Second / 3)
	if res, _ := m.Allow(t.Context(), "k", r); !res.Allowed {
		t.Fatal("not allowed after one interval")
	}
	if res, _ := m.Allow(t.Context(), "k", r); res.Allowed {
		t.Fatal("allowed twice in one interval")
	}
}

// TestKeyExpiry: state disappears once a bucket has refilled, in process
// and in Redis (where the key carries an expiry).
func TestKeyExpiry(t *testing.T) {
	now := time.Unix(1000, 0)
	m := NewMemory(func() time.Time { return now })
	_, _ = m.Allow(t.Context(), "k", Rate{Limit: 1, Period: time.Second, Burst: 1})
	_, _ = m.Acquire(t.Context(), "c", "l", 1, time.Minute)
	if m.Keys() != 2 {
		t.Fatalf("keys %d", m.Keys())
	}
	now = now.Add(time.Minute)
	if n := m.Keys(); n != 0 {
		t.Fatalf("keys after expiry %d", n)
	}

	srv := redistest.Start(t)
	rdb := srv.Client(t)
	s := NewRedis(rdb, "exp:")
	if _, err := s.Allow(t.Context(), "k", Rate{Limit: 1, Period: 5 * time.Second, Burst: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Acquire(t.Context(), "c", "l", 1, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	keys, err := rdb.Keys(t.Context(), "*").Result()
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys %v %v", keys, err)
	}
	for _, k := range keys {
		ttl, err := rdb.PTTL(t.Context(), k).Result()
		if err != nil || ttl <= 0 || ttl > 30*time.Second {
			t.Errorf("key %s: ttl %v %v, want an expiry", k, ttl, err)
		}
	}
}

// stepStore grants an event only when the test hands out a token, so the
// order of grants is the queue's, whatever the scheduler does.
type stepStore struct {
	Store
	tokens atomic.Int64
	fail   atomic.Bool
}

func (s *stepStore) Allow(ctx context.Context, key string, r Rate) (Result, error) {
	if s.fail.Load() {
		return Result{}, ErrStore
	}
	for {
		n := s.tokens.Load()
		if n <= 0 {
			return Result{RetryAfter: time.Millisecond}, nil
		}
		if s.tokens.CompareAndSwap(n, n-1) {
			return Result{Allowed: true}, nil
		}
	}
}

func TestFairQueueOrder(t *testing.T) {
	st := &stepStore{Store: NewMemory(nil)}
	queued := make(chan struct{}, 16)
	l, err := New(Options{Store: st, Limits: []Limit{{Name: "acct", Scope: ScopeAccount, Rate: Rate{Limit: 3, Period: time.Second, Burst: 1},
		QueueTime: time.Minute, MaxQueuedPerUser: 3}},
		OnDecision: func(_, result string) {
			if result == "queued" {
				queued <- struct{}{}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan string, 16)
	send := func(user string, n int) {
		for range n {
			go func() {
				if _, err := l.Admit(t.Context(), Request{User: user, Account: "1"}); err != nil {
					done <- "error " + err.Error()
					return
				}
				done <- user
			}()
			<-queued // enqueued in this order
		}
	}
	send("flooder", 3)
	send("b", 1)
	send("c", 1)
	var order []string
	for range 5 {
		st.tokens.Add(1)
		order = append(order, <-done)
	}
	want := []string{"flooder", "b", "c", "flooder", "flooder"}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("grant order %v, want %v", order, want)
		}
	}
}

func TestQueueBounds(t *testing.T) {
	st := &stepStore{Store: NewMemory(nil)}
	lim := Limit{Name: "acct", Scope: ScopeAccount, Rate: Rate{Limit: 3, Period: time.Second, Burst: 1}, QueueTime: 50 * time.Millisecond, MaxQueuedPerUser: 1}
	var waits sync.Map
	l, err := New(Options{Store: st, Limits: []Limit{lim}, OnQueueWait: func(_ string, d time.Duration) { waits.Store(d, true) }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	t.Run("timeout", func(t *testing.T) {
		_, err := l.Admit(t.Context(), Request{User: "a"})
		rej := RejectionOf(err)
		if rej == nil || rej.Reason != "queue_timeout" || mcpguard.KindOf(err) != mcpguard.KindRateLimited || rej.After <= 0 {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("full", func(t *testing.T) {
		lim := lim
		lim.QueueTime = time.Minute
		queued := make(chan struct{}, 1)
		l, _ := New(Options{Store: st, Limits: []Limit{lim}, OnDecision: func(_, r string) {
			if r == "queued" {
				queued <- struct{}{}
			}
		}})
		first := make(chan error, 1)
		go func() { _, err := l.Admit(t.Context(), Request{User: "a"}); first <- err }()
		<-queued
		if r := RejectionOf(func() error { _, err := l.Admit(t.Context(), Request{User: "a"}); return err }()); r == nil || r.Reason != "queue_full" {
			t.Fatalf("second of one user: %v, want queue_full", r)
		}
		l.Close() // refuses the waiter
		if err := <-first; err == nil {
			t.Fatal("waiter admitted after Close")
		}
	})
	t.Run("too long a wait is refused at once", func(t *testing.T) {
		m := NewMemory(nil)
		l := newLimiter(t, m, Limit{Name: "slow", Scope: ScopeAccount, Rate: Rate{Limit: 1, Period: time.Hour, Burst: 1}, QueueTime: time.Second})
		if admit(t, l, Request{User: "a"}) != "" {
			t.Fatal("first refused")
		}
		if got := admit(t, l, Request{User: "b"}); got != "slow:rate" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("store error while queued", func(t *testing.T) {
		lim := lim
		lim.QueueTime = time.Minute
		st := &stepStore{Store: NewMemory(nil)}
		queued := make(chan struct{}, 1)
		l, _ := New(Options{Store: st, Limits: []Limit{lim}, OnDecision: func(_, r string) {
			if r == "queued" {
				queued <- struct{}{}
			}
		}})
		defer l.Close()
		res := make(chan error, 1)
		go func() { _, err := l.Admit(t.Context(), Request{User: "a"}); res <- err }()
		<-queued
		st.fail.Store(true)
		if err := <-res; mcpguard.KindOf(err) != mcpguard.KindUnavailable {
			t.Fatalf("got %v", err)
		}
	})
}

func TestStoreOutage(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	s := NewRedis(rdb, "out:")
	closed := newLimiter(t, s, Limit{Name: "closed", Scope: ScopeUser, Rate: perMinute(100, 10)})
	open := newLimiter(t, s, Limit{Name: "open", Scope: ScopeUser, Rate: perMinute(100, 10), FailOpen: true})
	conc := newLimiter(t, s, Limit{Name: "conc", Scope: ScopeUser, Concurrency: 5})
	if admit(t, closed, Request{User: "a"}) != "" || admit(t, conc, Request{User: "a"}) != "" {
		t.Fatal("refused while Redis is up")
	}
	srv.Stop()
	_, err := closed.Admit(t.Context(), Request{User: "a"})
	if mcpguard.KindOf(err) != mcpguard.KindUnavailable || !errors.Is(err, ErrStore) || RetryAfter(err) <= 0 {
		t.Fatalf("fail closed: got %v", err)
	}
	if _, err := conc.Admit(t.Context(), Request{User: "a"}); mcpguard.KindOf(err) != mcpguard.KindUnavailable {
		t.Fatalf("concurrency fail closed: got %v", err)
	}
	if got := admit(t, open, Request{User: "a"}); got != "" {
		t.Fatalf("fail open refused: %q", got)
	}
}

func TestNewRejectsBadLimits(t *testing.T) {
	for _, l := range []Limit{
		{Name: "", Scope: ScopeUser, Concurrency: 1},
		{Name: "x", Scope: ScopeUser},
		{Name: "x", Scope: "planet", Concurrency: 1},
		{Name: "x", Scope: ScopeGroup, Concurrency: 1},
		{Name: "x", Scope: ScopeUser, Rate: Rate{Limit: 1, Period: time.Second}},
	} {
		if _, err := New(Options{Store: NewMemory(nil), Limits: []Limit{l}}); err == nil {
			t.Errorf("%+v accepted", l)
		}
	}
}
