package authz

import (
	"crypto/sha256"
	"encoding/binary"
	"testing"

	"github.com/cedar-policy/cedar-go/types"

	"github.com/mcpguard/mcpguard/authn"
)

func TestUIDString(t *testing.T) {
	for _, id := range []string{
		"aws___call_aws", "", "a b", `quote"d`, "it's", `back\slash`, "tab\there", "nl\n", "del\x7f",
		"é", "\u200b", "emoji 🙂", "s3://bucket/key?x=1&y=2",
	} {
		t.Run(id, func(t *testing.T) {
			uid := types.NewEntityUID(typeTool, types.String(id))
			if got, want := uidString(uid), uid.String(); got != want {
				t.Errorf("uidString = %q, want %q", got, want)
			}
		})
	}
}

func digestOf(s string) [sha256.Size]byte { return sha256.Sum256([]byte(s)) }

func TestPrincipalCache(t *testing.T) {
	s := &snapshot{entities: types.EntityMap{}, principals: newPrincipalCache()}
	withDigest := func(sub, token string, groups ...string) *authn.Identity {
		id := ident(sub, groups...)
		if token != "" {
			id.TokenDigest = digestOf(token)
		}
		return id
	}
	tests := []struct {
		name       string
		first, scd *authn.Identity
		wantShared bool
	}{
		{"same token is built once", withDigest("alice", "t1", "g"), withDigest("alice", "t1", "g"), true},
		{"another token is built again", withDigest("alice", "t1", "g"), withDigest("bob", "t2", "h"), false},
		{"no digest is never cached", withDigest("alice", "", "g"), withDigest("alice", "", "g"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clear(s.principals.m)
			a := s.principal(tc.first, tc.first.Groups)
			b := s.principal(tc.scd, tc.scd.Groups)
			if a.UID.ID != types.String(tc.first.Subject) || b.UID.ID != types.String(tc.scd.Subject) {
				t.Fatalf("principals %v, %v", a.UID, b.UID)
			}
			if got := len(s.principals.m); tc.wantShared && got != 1 {
				t.Errorf("%d cached entries, want 1", got)
			}
			if !tc.wantShared && tc.first.TokenDigest == ([sha256.Size]byte{}) && len(s.principals.m) != 0 {
				t.Errorf("identity without digest cached")
			}
		})
	}
	t.Run("bounded", func(t *testing.T) {
		clear(s.principals.m)
		for i := range maxCachedPrincipals + 10 {
			var tok [8]byte
			binary.LittleEndian.PutUint64(tok[:], uint64(i))
			s.principal(withDigest("u", string(tok[:])), nil)
		}
		if n := len(s.principals.m); n > maxCachedPrincipals {
			t.Errorf("%d cached entries, bound %d", n, maxCachedPrincipals)
		}
	})
	t.Run("nil cache builds every time", func(t *testing.T) {
		bare := &snapshot{entities: types.EntityMap{}}
		if e := bare.principal(withDigest("carol", "t3"), nil); e.UID.ID != "carol" {
			t.Errorf("principal %v", e.UID)
		}
	})
}
