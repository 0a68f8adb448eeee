package sts

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// BenchmarkCredentialsHit measures the hot path: role selection, session
// name, cache key and a fresh cache hit.
func BenchmarkCredentialsHit(b *testing.B) {
	cases := []struct {
		name   string
		claims string
	}{
		{"flattened_groups", `{"sub":"alice","email_verified":true,"email":"alice@example.com","` + groupsClaim + `":"s3-readers:Everyone"}`},
		{"nested_tags", `{"sub":"alice","email_verified":true,"email":"alice@example.com","https://aws.amazon.com/tags":{"principal_tags":{"Groups":["s3-readers:Everyone"],"Team":["x"]},"transitive_tag_keys":["Team"]}}`},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			e := newEnv(b, nil)
			id := e.idp.identity(b, c.claims, e.clk.Now().Add(2*time.Hour))
			ctx := context.Background()
			if _, err := e.broker.Credentials(ctx, id); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				g, err := e.broker.Credentials(ctx, id)
				if err != nil || !g.Cached {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCacheMemory reports the heap held per cached entry with 100 000
// users, each entry shaped like what STS returns (a ~1 KB session token
// dominates). Run with -benchtime=1x.
func BenchmarkCacheMemory(b *testing.B) {
	const users = 100_000
	e := newEnv(b, nil)
	r := e.broker.roles.byGroup["s3-readers"]
	tokenBody := strings.Repeat("A", 1024)
	proto := e.user(b, "x", "s3-readers")
	var perEntry float64
	for b.Loop() {
		c := newCache(users, DefaultRefreshMargin)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		exp := e.clk.Now().Add(time.Hour)
		for i := range users {
			name := fmt.Sprintf("user%06d@example.com", i)
			id := *proto
			id.Subject, id.Email = fmt.Sprintf("00u%017d", i), name
			key, err := e.broker.key(&id, r, name)
			if err != nil {
				b.Fatal(err)
			}
			c.put(key, &Grant{
				RoleARN:        r.RoleARN, // shared with the configuration
				SessionName:    name,
				AssumedRoleARN: "arn:aws:sts::123456789012:assumed-role/S3ReadOnlyMCPRole/" + name,
				Credentials: Credentials{
					AccessKeyID:     fmt.Sprintf("ASIA%016d", i),
					SecretAccessKey: Secret(fmt.Sprintf("%040d", i)),
					SessionToken:    Secret(fmt.Sprintf("%08d", i) + tokenBody),
					Expires:         exp,
				},
				STSRequestID: fmt.Sprintf("%08d-0000-4000-8000-000000000000", i),
				NotAfter:     exp,
				Cached:       true,
			})
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perEntry = float64(after.HeapAlloc-before.HeapAlloc) / users
		runtime.KeepAlive(c)
	}
	b.ReportMetric(perEntry, "bytes/entry")
}
