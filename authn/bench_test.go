package authn

import (
	"testing"

	"github.com/mcpguard/mcpguard/test/fakeidp"
)

func benchAuthenticate(b *testing.B, cacheSize int, alg string) {
	b.Helper()
	e := newEnv(b, func(o *Options) { o.CacheSize = cacheSize })
	e.waitReady(b)
	in := Input{Authorization: "Bearer " + e.mint(b, e.claims("s3-readers", "Everyone"), fakeidp.WithAlg(alg))}
	ctx := b.Context()
	if _, err := e.a.Authenticate(ctx, in); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.a.Authenticate(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticateCold verifies the signature and claims every time.
func BenchmarkAuthenticateCold(b *testing.B) {
	for _, alg := range []string{fakeidp.RS256, fakeidp.ES256, fakeidp.EdDSA} {
		b.Run(alg, func(b *testing.B) { benchAuthenticate(b, -1, alg) })
	}
}

// BenchmarkAuthenticateCached is the steady state: the same token again,
// found in the verified-token cache without verifying its signature.
func BenchmarkAuthenticateCached(b *testing.B) {
	for _, alg := range []string{fakeidp.RS256, fakeidp.ES256} {
		b.Run(alg, func(b *testing.B) { benchAuthenticate(b, DefaultCacheSize, alg) })
	}
}

func BenchmarkGroupsFromClaims(b *testing.B) {
	claims := map[string]any{"groups": []any{"a", "b", "c", "d", "e"}, tagClaim: "s3-readers:Everyone"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := GroupsFromClaims(claims, "groups"); err != nil {
			b.Fatal(err)
		}
		if _, err := GroupsFromClaims(claims, tagClaim); err != nil {
			b.Fatal(err)
		}
	}
}
