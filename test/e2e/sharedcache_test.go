package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/gateway"
	"github.com/mcpguard/mcpguard/test/redistest"
	"github.com/mcpguard/mcpguard/test/stack"
)

// TestSharedCredentialCacheAcrossReplicas runs two mcpguard replicas on one
// Redis behind the Envoy stand-in, which alternates streams between them,
// so every user's requests reach both. Without the shared credential cache
// STS sees one call per user and replica; with it, one per user.
func TestSharedCredentialCacheAcrossReplicas(t *testing.T) {
	const users = 10
	for _, shared := range []bool{false, true} {
		t.Run(fmt.Sprintf("shared=%v", shared), func(t *testing.T) {
			calls := stsCallsOnTwoReplicas(t, users, shared)
			t.Logf("STS calls for %d users on 2 replicas, shared credential cache %v: %d", users, shared, calls)
			want := 2 * users
			if shared {
				want = users
			}
			if calls != want {
				t.Fatalf("%d STS calls, want %d", calls, want)
			}
		})
	}
}

func stsCallsOnTwoReplicas(t *testing.T, users int, shared bool) int {
	t.Helper()
	redisSrv := redistest.Start(t)
	keyFile := filepath.Join(t.TempDir(), "sts-cache-key")
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	off := false
	s, _ := startStack(t, stack.Options{
		FakeAWSJSON: true,
		Mutate: func(c *config.Config) {
			c.RateLimits = &config.RateLimits{Redis: config.Redis{Address: redisSrv.Addr}, AWSMCPDefaults: &off}
			c.RateLimits.Redis.KeyPrefix = "e2e:"
			c.RateLimits.Redis.DialTimeout = time.Second
			c.RateLimits.Redis.Timeout = time.Second
			c.STS.SharedCache.Enabled = shared
			c.STS.SharedCache.KeyFile = keyFile
		},
	})
	endpoint := secondReplica(t, s, gateway.Options{})

	before := len(s.STS.Calls())
	for i := range users {
		tok, err := s.LoginToken(stack.User{Name: fmt.Sprintf("user%02d", i), Groups: []string{"s3-readers", "Everyone"}})
		if err != nil {
			t.Fatal(err)
		}
		// Consecutive streams go to alternate replicas: each replica
		// serves this user once.
		for range 2 {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, endpoint, strings.NewReader(initializeBody))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("user%02d: status %d", i, resp.StatusCode)
			}
		}
	}
	return len(s.STS.Calls()) - before
}
