package sts

import (
	"sync"
	"testing"
	"time"
)

// TestCacheRestoredSlots: a hit serves exactly the grant that was cached,
// whether its restored values come from the hot slot or are rebuilt, and
// a slot never serves one entry's values for another.
func TestCacheRestoredSlots(t *testing.T) {
	// a and b share a hot slot (the same first two bytes); c does not.
	a, b, c := cacheKey{1, 0, 1}, cacheKey{1, 0, 2}, cacheKey{2, 0, 1}
	grant := func(f func(*Grant)) *Grant { g := stsLike(); f(&g); return &g }
	alice := grant(func(g *Grant) {})
	bob := grant(func(g *Grant) {
		g.SessionName = "bob@example.com"
		g.AssumedRoleARN = "arn:aws:sts::123456789012:assumed-role/S3ReadOnlyMCPRole/bob@example.com"
		g.Credentials.AccessKeyID, g.Credentials.SecretAccessKey = "ASIA0000000000000002", "bobbobbobbobbobbobbobbobbobbobbobbobbob0"
		g.Credentials.SessionToken = "Ym9i" + g.Credentials.SessionToken[4:]
		g.STSRequestID = "00000000-0000-4000-8000-000000000002"
	})
	refreshed := grant(func(g *Grant) {
		g.Credentials.AccessKeyID, g.Credentials.SessionToken = "ASIA0000000000000003", "bmV3"+g.Credentials.SessionToken[4:]
		g.NotAfter = g.NotAfter.Add(time.Hour)
	})
	otherRole := grant(func(g *Grant) {
		g.RoleARN = "arn:aws:iam::123456789012:role/Other"
		g.AssumedRoleARN = "arn:aws:sts::123456789012:assumed-role/Other/" + g.SessionName
	})
	type step struct {
		put  *Grant // stored under key before the get, when set
		key  cacheKey
		want *Grant
		// fromSlot says the restored values must be the slot's.
		fromSlot bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"second hit uses the slot", []step{{put: alice, key: a, want: alice}, {key: a, want: alice, fromSlot: true}}},
		{"users sharing a slot each get their own", []step{
			{put: alice, key: a, want: alice}, {put: bob, key: b, want: bob}, {key: a, want: alice}, {key: b, want: bob}, {key: b, want: bob, fromSlot: true},
		}},
		{"other slot is apart", []step{{put: alice, key: a, want: alice}, {put: bob, key: c, want: bob}, {key: a, want: alice, fromSlot: true}}},
		{"refreshed entry is restored anew", []step{{put: alice, key: a, want: alice}, {key: a, want: alice}, {put: refreshed, key: a, want: refreshed}}},
		{"same blob, another role", []step{{put: alice, key: a, want: alice}, {put: otherRole, key: b, want: otherRole}, {key: a, want: alice}}},
	}
	now := stsLike().NotAfter.Add(-time.Hour)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc := newCache(10, time.Minute)
			for i, st := range tt.steps {
				if st.put != nil {
					cc.put(st.key, st.put)
				}
				k := shortKey(st.key)
				slot := &cc.hot[uint16(k[0])|uint16(k[1])<<8]
				before := slot.Load()
				g, res, _ := cc.get(st.key, now, false)
				if g == nil || res != CacheHit {
					t.Fatalf("step %d: get = %v, %v", i, g, res)
				}
				want := *st.want
				want.Cached = true
				if !sameGrant(g, &want) {
					t.Fatalf("step %d: got %s %s, want %s %s", i, g.SessionName, g.Credentials.AccessKeyID, want.SessionName, want.Credentials.AccessKeyID)
				}
				if after := slot.Load(); st.fromSlot && after != before {
					t.Fatalf("step %d: restored again, want the slot's values", i)
				}
			}
		})
	}
}

// TestCacheRestoredConcurrent hits entries that share slots from many
// goroutines (run with -race): every hit returns its own user's grant.
func TestCacheRestoredConcurrent(t *testing.T) {
	cc := newCache(100, time.Minute)
	now := stsLike().NotAfter.Add(-time.Hour)
	const users = 8
	var keys [users]cacheKey
	for i := range users {
		keys[i] = cacheKey{0, 0, byte(i)} // all in slot 0
		g := stsLike()
		g.Credentials.AccessKeyID = "ASIA000000000000000" + string(rune('0'+i))
		cc.put(keys[i], &g)
	}
	var wg sync.WaitGroup
	errs := make(chan string, users)
	for i := range users {
		wg.Go(func() {
			for range 500 {
				g, _, _ := cc.get(keys[i], now, false)
				if g == nil || g.Credentials.AccessKeyID != "ASIA000000000000000"+string(rune('0'+i)) ||
					g.Credentials.SessionToken != stsLike().Credentials.SessionToken {
					errs <- "user " + string(rune('0'+i)) + " got another grant"
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}
