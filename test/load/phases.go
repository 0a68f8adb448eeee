package main

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpguard/mcpguard/test/fakeidp"
	"github.com/mcpguard/mcpguard/test/stack"
)

// Stampede is the outcome of many simultaneous first requests of one user.
type Stampede struct {
	Requests int `json:"requests"`
	STSCalls int `json:"sts_calls"`
	Non200   int `json:"non_200"`
}

// stampede sends n initialize requests of one new user at once, before
// mcpguard has credentials for them: the cache must make exactly one STS
// call and every request must be answered.
func (e *env) stampede(ctx context.Context, n int) (Stampede, error) {
	u, err := e.newUser("stampede", 0)
	if err != nil {
		return Stampede{}, err
	}
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"` + protocolVersion + `","capabilities":{},"clientInfo":{"name":"load","version":"1"}}}`
	before := len(e.st.STS.Calls())
	var (
		wg    sync.WaitGroup
		bad   atomic.Int64
		ready = make(chan struct{})
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ready
			if st, _, err := e.post(ctx, modeMCPGuard, u, body, nil); err != nil || st != http.StatusOK {
				bad.Add(1)
			}
		}()
	}
	close(ready)
	wg.Wait()
	return Stampede{Requests: n, STSCalls: len(e.st.STS.Calls()) - before, Non200: int(bad.Load())}, ctx.Err()
}

// Memory is mcpguard's memory growth while n new users' credentials were
// cached.
type Memory struct {
	Users        int     `json:"users"`
	RSSBefore    int64   `json:"rss_before_bytes"`
	RSSAfter     int64   `json:"rss_after_bytes"`
	PeakRSS      int64   `json:"peak_rss_bytes"`
	BytesPerUser float64 `json:"rss_bytes_per_user"`
	CacheEntries float64 `json:"credential_cache_entries"`
	HeapBefore   float64 `json:"heap_inuse_before_bytes"`
	HeapAfter    float64 `json:"heap_inuse_after_bytes"`
	STSCalls     int     `json:"sts_calls"`
	Failures     int64   `json:"failures"`
}

// memory makes n new users send one request each, so mcpguard verifies
// their tokens and caches their credentials, and reads its RSS before and
// after. Tokens are ES256, which mints faster than RS256 in this process;
// mcpguard's per-user state does not depend on the algorithm.
func (e *env) memory(ctx context.Context, n int, w io.Writer) (Memory, error) {
	m := Memory{Users: n}
	before, err := e.guard.usage()
	if err != nil {
		return m, err
	}
	m.RSSBefore = before.RSS
	if mt, err := e.metrics(); err == nil {
		m.HeapBefore = mt["go_memstats_heap_inuse_bytes"]
	}
	stsBefore := len(e.st.STS.Calls())
	var (
		next     atomic.Int64
		failures atomic.Int64
		wg       sync.WaitGroup
	)
	const workers = 32
	// A request the upstream answers without a session (400) still went
	// through authentication, authorization, STS and signing.
	body := `{"jsonrpc":"2.0","id":9,"method":"ping"}`
	began := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				u, err := e.newUser("mem", i, fakeidp.WithAlg(fakeidp.ES256))
				if err != nil {
					failures.Add(1)
					continue
				}
				st, _, err := e.post(ctx, modeMCPGuard, u, body, nil)
				if transportFailed(err) || (st != http.StatusOK && st != http.StatusBadRequest) {
					failures.Add(1)
				}
				if i > 0 && i%10000 == 0 {
					logf(w, "  %d users in %s", i, time.Since(began).Round(time.Second))
				}
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return m, err
	}
	m.Failures = failures.Load()
	m.STSCalls = len(e.st.STS.Calls()) - stsBefore
	after, err := e.guard.usage()
	if err != nil {
		return m, err
	}
	m.RSSAfter, m.PeakRSS = after.RSS, after.PeakRSS
	m.BytesPerUser = float64(m.RSSAfter-m.RSSBefore) / float64(n)
	if mt, err := e.metrics(); err == nil {
		m.HeapAfter = mt["go_memstats_heap_inuse_bytes"]
		m.CacheEntries = mt["mcpguard_credentials_cache_entries"]
	}
	return m, nil
}

// metrics reads mcpguard's /metrics, each metric summed over its labels.
func (e *env) metrics() (map[string]float64, error) {
	return stack.Metrics(e.st.AdminURL + "/metrics")
}
