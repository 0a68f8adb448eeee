package sts

import (
	"context"
	"crypto/sha256"
	"testing"

	"github.com/mcpguard/mcpguard/test/fakests"
)

func TestResolveMemo(t *testing.T) {
	e := newEnv(t, func(_ *env, o *Options, _ *fakests.Options) { o.DefaultRoleARN = "" })
	ctx := context.Background()
	tests := []struct {
		name     string
		groups   string
		wantErr  bool
		wantMemo bool
	}{
		{"mapped user is remembered", "s3-readers", false, true},
		{"unmapped user is not", "nobody", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := e.user(t, "u-"+tc.groups, tc.groups)
			if id.TokenDigest == ([sha256.Size]byte{}) {
				t.Fatal("test identity has no token digest")
			}
			first, err := e.broker.resolve(id)
			if (err != nil) != tc.wantErr {
				t.Fatalf("resolve: %v, want error %v", err, tc.wantErr)
			}
			e.broker.resolved.mu.RLock()
			memo, ok := e.broker.resolved.m[id.TokenDigest]
			e.broker.resolved.mu.RUnlock()
			if ok != tc.wantMemo {
				t.Fatalf("remembered %v, want %v", ok, tc.wantMemo)
			}
			if ok && memo != first {
				t.Errorf("remembered %+v, computed %+v", memo, first)
			}
			if !tc.wantErr {
				// The remembered resolution serves the request path.
				if _, err := e.broker.Credentials(ctx, id); err != nil {
					t.Fatalf("credentials: %v", err)
				}
			}
		})
	}
	t.Run("bounded", func(t *testing.T) {
		proto := e.user(t, "bulk", "s3-readers")
		for i := range maxResolved + 5 {
			id := *proto
			id.TokenDigest = sha256.Sum256([]byte{byte(i), byte(i >> 8), byte(i >> 16)})
			if _, err := e.broker.resolve(&id); err != nil {
				t.Fatal(err)
			}
		}
		if n := len(e.broker.resolved.m); n > maxResolved {
			t.Errorf("%d remembered, bound %d", n, maxResolved)
		}
	})
	t.Run("no digest is not remembered", func(t *testing.T) {
		id := e.user(t, "nodigest", "s3-readers")
		id.TokenDigest = [sha256.Size]byte{}
		before := len(e.broker.resolved.m)
		if _, err := e.broker.resolve(id); err != nil {
			t.Fatal(err)
		}
		if len(e.broker.resolved.m) != before {
			t.Error("identity without digest remembered")
		}
	})
}
