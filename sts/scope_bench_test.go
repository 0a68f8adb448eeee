package sts

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/test/fakests"
)

// BenchmarkScopedWarmPath compares the warm path of a per-request session
// (scope_down request: set hash, policy memo, cache hit) with today's
// mapping session (Credentials), for the same user and cache state.
func BenchmarkScopedWarmPath(b *testing.B) {
	claims := `{"sub":"alice","email_verified":true,"email":"alice@example.com","` + groupsClaim + `":"s3-readers:Everyone"}`
	actions := []string{"s3:GetObject", "s3:ListAllMyBuckets", "s3:ListBucket"}
	for _, mode := range []string{"mapping", "request"} {
		b.Run(mode, func(b *testing.B) {
			e := newEnv(b, func(_ *env, o *Options, _ *fakests.Options) {
				if mode == "request" {
					o.ScopeDown = ScopeRequest
				}
			})
			id := e.idp.identity(b, claims, e.clk.Now().Add(2*time.Hour))
			ctx := context.Background()
			get := func() (*Grant, error) {
				if mode == "request" {
					return e.broker.ScopedCredentials(ctx, id, Scope{Actions: actions})
				}
				return e.broker.Credentials(ctx, id)
			}
			if _, err := get(); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				g, err := get()
				if err != nil || !g.Cached {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkScopedSTSCalls counts the STS calls of 10 000 requests from 100
// users each using 3 distinct action sets (target 300: one per user and
// set; repeats are served from the cache).
func BenchmarkScopedSTSCalls(b *testing.B) {
	sets := [][]string{
		{"s3:ListAllMyBuckets"},
		{"s3:ListAllMyBuckets", "s3:ListBucket"},
		{"s3:GetObject"},
	}
	var calls int
	for b.Loop() {
		e := newEnv(b, func(_ *env, o *Options, _ *fakests.Options) { o.ScopeDown = ScopeRequest })
		ids := make([]*authn.Identity, 100)
		for i := range ids {
			ids[i] = e.user(b, fmt.Sprintf("user%03d", i), "s3-readers")
		}
		ctx := context.Background()
		for n := range 10_000 {
			id := ids[n%len(ids)]
			set := sets[(n/len(ids))%len(sets)]
			if _, err := e.broker.ScopedCredentials(ctx, id, Scope{Actions: set}); err != nil {
				b.Fatal(err)
			}
		}
		calls = len(e.fake.Calls())
	}
	if calls != 300 {
		b.Fatalf("%d STS calls per 10 000 requests, want 300", calls)
	}
	b.ReportMetric(float64(calls), "sts_calls/10k_requests")
}
