package ratelimit

import (
	"testing"
	"time"

	"github.com/mcpguard/mcpguard/test/redistest"
)

// benchLimits are a typical deployment's: a per-user rate, a per-tool
// rate and the AWS MCP account rate and connection cap. The rates are
// high so the warm path (admitted) is what is measured.
func benchLimits() []Limit {
	fast := Rate{Limit: 1 << 20, Period: time.Second, Burst: 1 << 20}
	return []Limit{
		{Name: "user", Scope: ScopeUser, Rate: fast},
		{Name: "tool", Scope: ScopeUserTool, Rate: fast},
		{Name: "acct", Scope: ScopeAccount, Rate: fast, QueueTime: time.Second},
		{Name: "conn", Scope: ScopeAccount, Concurrency: 1 << 20},
	}
}

func benchAdmit(b *testing.B, s Store) {
	b.Helper()
	l, err := New(Options{Store: s, Limits: benchLimits()})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	r := Request{User: "https://idp.example.com\nalice", Tools: []string{"aws___call_aws"}, Account: "123456789012", Region: "us-east-1"}
	b.ReportAllocs()
	for b.Loop() {
		t, err := l.Admit(b.Context(), r)
		if err != nil {
			b.Fatal(err)
		}
		t.Release()
	}
}

// BenchmarkAdmit is the warm-path cost of the limit stage: four limits
// (three rates, one concurrency cap with its release).
func BenchmarkAdmit(b *testing.B) {
	b.Run("memory", func(b *testing.B) { benchAdmit(b, NewMemory(nil)) })
	b.Run("redis", func(b *testing.B) {
		srv := redistest.Start(b)
		benchAdmit(b, NewRedis(srv.Client(b), "bench:"))
	})
}

// BenchmarkAllow is one rate check.
func BenchmarkAllow(b *testing.B) {
	r := Rate{Limit: 1 << 20, Period: time.Second, Burst: 1 << 20}
	run := func(b *testing.B, s Store) {
		b.Helper()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Allow(b.Context(), "k", r); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("memory", func(b *testing.B) { run(b, NewMemory(nil)) })
	b.Run("redis", func(b *testing.B) {
		srv := redistest.Start(b)
		run(b, NewRedis(srv.Client(b), "bench:"))
	})
}
