package sts

import (
	"testing"
	"time"
)

// FuzzSharedOpen feeds arbitrary store values to the decoder: it must
// never panic and never accept a value not sealed for that entry.
func FuzzSharedOpen(f *testing.F) {
	s, err := NewSharedCache(SharedCacheOptions{Store: redisStore{}, Key: testSharedKey})
	if err != nil {
		f.Fatal(err)
	}
	r := &role{Mapping: Mapping{RoleARN: roleS3}}
	exp := time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC)
	g := &Grant{RoleARN: roleS3, SessionName: "alice", Credentials: Credentials{AccessKeyID: "ASIA1", SecretAccessKey: "c2VjcmV0",
		SessionToken: "dG9rZW4=", Expires: exp}, NotAfter: exp}
	sealed := s.seal("entry", g)
	f.Add(sealed)
	f.Add(sealed[:len(sealed)-1])
	f.Add([]byte{sharedVersion})
	f.Fuzz(func(t *testing.T, val []byte) {
		got, ok := s.open("entry", val, r, "alice")
		if !ok {
			return
		}
		// Only a value sealed under the key opens (GCM makes a forgery
		// infeasible), and the only grant ever sealed under it is g, also
		// by the fuzzing workers, whose nonces differ.
		if got.Credentials != g.Credentials || got.SessionName != "alice" {
			t.Fatal("the sealed grant changed")
		}
		if _, ok := s.open("other", val, r, "alice"); ok {
			t.Fatal("a value opened under another entry name")
		}
	})
}
