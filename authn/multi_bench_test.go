package authn

import (
	"context"
	"fmt"
	"testing"

	"github.com/mcpguard/mcpguard/test/fakeidp"
)

// BenchmarkMultiCached is the steady state with five providers configured:
// the shared cache answers before any provider is chosen, so the cost must
// match BenchmarkAuthenticateCached's.
func BenchmarkMultiCached(b *testing.B) {
	for _, n := range []int{1, 5} {
		b.Run(fmt.Sprintf("providers=%d", n), func(b *testing.B) {
			clk := newClock()
			var opts []Options
			var last *fakeidp.IdP
			for i := range n {
				p := startIdP(b, clk)
				opts = append(opts, Options{
					Name: fmt.Sprintf("p%d", i), Issuer: p.Issuer(fakeidp.Okta, ""), JWKSURL: p.JWKSURL(),
					Audiences: []string{"api://mcpguard"}, Now: clk.Now,
				})
				last = p
			}
			m, err := NewMulti(context.Background(), opts)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			if err := m.Refresh(context.Background()); err != nil {
				b.Fatal(err)
			}
			tok, err := last.Mint(last.ProfileClaims(fakeidp.Okta, fakeidp.User{Subject: "alice", Groups: []string{"s3-readers"}}))
			if err != nil {
				b.Fatal(err)
			}
			in := Input{Authorization: "Bearer " + tok}
			ctx := context.Background()
			if _, err := m.Authenticate(ctx, in); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Authenticate(ctx, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
