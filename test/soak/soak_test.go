package soak

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpguard/mcpguard/test/fakeidp"
	"github.com/mcpguard/mcpguard/test/stack"
)

const (
	users        = 50
	upstreamHost = "aws-mcp.us-east-1.api.aws"
)

// settings come from the environment so make soak and a smoke run share
// the test.
type settings struct {
	duration time.Duration // SOAK_DURATION
	interval time.Duration // SOAK_INTERVAL: each user's pause between requests
	warmup   time.Duration
	window   time.Duration // how long each measurement samples
}

func loadSettings(t *testing.T) settings {
	t.Helper()
	raw := os.Getenv("SOAK_DURATION")
	if raw == "" {
		t.Skip("soak test: set SOAK_DURATION (make soak, or SOAK_DURATION=30s for a smoke run)")
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d < 20*time.Second {
		t.Fatalf("SOAK_DURATION=%q: want a duration of at least 20s", raw)
	}
	s := settings{duration: d, interval: time.Second}
	if v := os.Getenv("SOAK_INTERVAL"); v != "" {
		if s.interval, err = time.ParseDuration(v); err != nil || s.interval <= 0 {
			t.Fatalf("SOAK_INTERVAL=%q: %v", v, err)
		}
	}
	s.warmup = max(5*time.Second, d/10)
	s.window = max(5*time.Second, d/20)
	return s
}

// flow is the soak's environment: test/stack's fakes and Envoy stand-in
// in this process, mcpguard in its own.
type flow struct {
	st  *stack.Stack
	mcp string
}

func startFlow(t *testing.T) *flow {
	t.Helper()
	policies, err := filepath.Abs("../../examples/policies")
	if err != nil {
		t.Fatal(err)
	}
	// Listeners, issuer and STS endpoint are placeholders the stack points
	// at free ports and its fakes.
	cfg := fmt.Sprintf(`server:
  grpc_listen: 127.0.0.1:0
  admin_listen: 127.0.0.1:0
upstream:
  host: %s
  service: aws-mcp
  path: /mcp
oidc_config:
  issuer: http://127.0.0.1:1
  audience: aws-mcp
aws_sts_config:
  region: us-east-1
  sts_endpoint: http://127.0.0.1:1
  role_claim: https://aws.amazon.com/tags/principal_tags/Groups
  role_mappings:
    - claim: s3-readers
      role_arn: %s
      priority: 10
    - claim: ec2-viewers
      role_arn: %s
      priority: 20
    - claim: data-analysts
      role_arn: %s
authz_config:
  policy_files: [%s/*.cedar]
  entities_file: %s/entities.json
`, upstreamHost, stack.S3Role, stack.EC2Role, stack.S3Role, policies, policies)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := stack.Start(t.Context(), stack.Options{
		ConfigPath:  cfgPath,
		Ephemeral:   true,
		FakeAWSJSON: true,
		Process:     &stack.Process{Binary: os.Getenv("MCPGUARD_BIN")},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		log := st.ProcessLog(3000)
		st.Close()
		if t.Failed() {
			t.Logf("mcpguard log (warn and above):\n%s", log)
		}
	})
	return &flow{st: st, mcp: st.MCPURL()}
}

// metrics reads mcpguard's /metrics, each metric summed over its labels.
func (f *flow) metrics() (map[string]float64, error) {
	return stack.Metrics(f.st.AdminURL + "/metrics")
}

// sample is mcpguard's resource use over one measurement window: the
// median goroutine count and the median heap goal (which the runtime
// derives from the live heap at the last GC, so it does not swing with
// the allocation cycle), plus the lowest heap seen.
type sample struct {
	goroutines float64
	heapGoal   float64
	heapMin    float64
}

func (f *flow) measure(t *testing.T, window time.Duration) sample {
	t.Helper()
	var gs, goals []float64
	heapMin := -1.0
	for end := time.Now().Add(window); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		m, err := f.metrics()
		if err != nil {
			t.Errorf("scrape metrics: %v", err)
			continue
		}
		gs = append(gs, m["go_goroutines"])
		goals = append(goals, m["go_memstats_next_gc_bytes"])
		if h := m["go_memstats_heap_alloc_bytes"]; heapMin < 0 || h < heapMin {
			heapMin = h
		}
	}
	return sample{goroutines: median(gs), heapGoal: median(goals), heapMin: heapMin}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// op is one request a user makes and the answer it must get.
type op struct {
	name   string
	body   string
	status int
	badJWT bool
}

func callAWS(cli string) string {
	return `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"aws___call_aws","arguments":{"cli_command":"` + cli + `"}}}`
}

const (
	toolsList = `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
	ping      = `{"jsonrpc":"2.0","id":4,"method":"ping"}`
)

// profiles are the three kinds of user, each with a mix of allowed and
// denied requests, and one request with a forged token.
var profiles = []struct {
	groups []string
	ops    []op
}{
	{[]string{"s3-readers", "Everyone"}, []op{
		{"s3 ls", callAWS("aws s3 ls"), 200, false},
		{"ec2 denied", callAWS("aws ec2 describe-instances"), 403, false},
		{"tools/list", toolsList, 200, false},
		{"chained denied", callAWS("aws s3 ls; aws iam list-users"), 403, false},
		{"ping", ping, 200, false},
		{"forged token", ping, 401, true},
	}},
	{[]string{"ec2-viewers", "Everyone"}, []op{
		{"ec2 describe", callAWS("aws ec2 describe-instances"), 200, false},
		{"s3 denied", callAWS("aws s3 ls"), 403, false},
		{"tools/list", toolsList, 200, false},
		{"terminate denied", callAWS("aws ec2 terminate-instances --instance-ids i-1"), 403, false},
	}},
	{[]string{"data-analysts", "Everyone"}, []op{
		{"s3 ls", callAWS("aws s3 ls"), 200, false},
		{"rm denied", callAWS("aws s3 rm s3://mcpguard-demo-reports/report.csv"), 403, false},
		{"ec2 denied", callAWS("aws ec2 describe-instances"), 403, false},
		{"tools/list", toolsList, 200, false},
	}},
}

type counters struct {
	requests, unexpected atomic.Int64
	mu                   sync.Mutex
	firstErrors          []string
}

func (c *counters) fail(msg string) {
	c.unexpected.Add(1)
	c.mu.Lock()
	if len(c.firstErrors) < 10 {
		c.firstErrors = append(c.firstErrors, msg)
	}
	c.mu.Unlock()
}

// user runs one simulated person until ctx ends.
func (f *flow) user(ctx context.Context, t *testing.T, i int, s settings, client *http.Client, c *counters) {
	t.Helper()
	p := profiles[i%len(profiles)]
	name := fmt.Sprintf("soak-%02d", i)
	claims := f.st.Claims(stack.User{Name: name, Groups: p.groups})
	tok, err := f.st.IdP.Mint(claims)
	if err != nil {
		c.fail(name + ": mint: " + err.Error())
		return
	}
	forged, _ := f.st.IdP.Mint(claims, fakeidp.WithForeignKey())

	send := func(body, token, sid string) (int, string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.mcp, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "Bearer "+token)
		if sid != "" {
			req.Header.Set("Mcp-Session-Id", sid)
			req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Mcp-Session-Id"), nil
	}

	// Spread the users over the interval, then open a session.
	select {
	case <-ctx.Done():
		return
	case <-time.After(time.Duration(i) * s.interval / users):
	}
	st, sid, err := send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"soak","version":"1"}}}`, tok, "")
	c.requests.Add(1)
	if err != nil || st != 200 || sid == "" {
		c.fail(fmt.Sprintf("%s initialize: %d %v", name, st, err))
		return
	}
	st, _, err = send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`, tok, sid)
	c.requests.Add(1)
	if err != nil || st != 202 {
		c.fail(fmt.Sprintf("%s initialized: %d %v", name, st, err))
		return
	}

	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		o := p.ops[n%len(p.ops)]
		token := tok
		if o.badJWT {
			token = forged
		}
		st, _, err := send(o.body, token, sid)
		if ctx.Err() != nil {
			return // the run ended mid-request
		}
		c.requests.Add(1)
		if err != nil || st != o.status {
			c.fail(fmt.Sprintf("%s %s: status %d, want %d (%v)", name, o.name, st, o.status, err))
		}
	}
}

// TestSoak drives 50 users through the Envoy stand-in into a real mcpguard
// process for SOAK_DURATION and fails on any unexpected answer, or when
// mcpguard's goroutines or heap grow more than 10% between the end of the
// warm-up and the end of the run.
func TestSoak(t *testing.T) {
	s := loadSettings(t)
	f := startFlow(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: users * 2}, Timeout: 30 * time.Second}
	c := &counters{}
	var wg sync.WaitGroup
	begin := time.Now()
	for i := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.user(ctx, t, i, s, client, c)
		}()
	}

	time.Sleep(s.warmup)
	reqStart := c.requests.Load()
	start := f.measure(t, s.window)
	if rest := s.duration - time.Since(begin) - s.window; rest > 0 {
		time.Sleep(rest)
	}
	end := f.measure(t, s.window)
	cancel()
	wg.Wait()
	elapsed := time.Since(begin)

	m, err := f.metrics()
	if err != nil {
		t.Fatal(err)
	}
	total := c.requests.Load()
	t.Logf("soak: %s, %d users, one request each per %s", elapsed.Round(time.Second), users, s.interval)
	t.Logf("requests: %d (%.1f/s), unexpected answers: %d", total, float64(total)/elapsed.Seconds(), c.unexpected.Load())
	t.Logf("STS calls: %d at the fake STS, %.0f counted by mcpguard", len(f.st.STS.Calls()), m["mcpguard_sts_requests_total"])
	t.Logf("goroutines: %.0f after warm-up, %.0f at the end", start.goroutines, end.goroutines)
	t.Logf("heap goal: %.1f MiB after warm-up, %.1f MiB at the end (lowest heap seen %.1f / %.1f MiB)",
		start.heapGoal/(1<<20), end.heapGoal/(1<<20), start.heapMin/(1<<20), end.heapMin/(1<<20))
	t.Logf("requests measured after warm-up: %d", total-reqStart)

	if n := c.unexpected.Load(); n > 0 {
		t.Errorf("%d unexpected answers; first: %v", n, c.firstErrors)
	}
	if end.goroutines > start.goroutines*1.10 {
		t.Errorf("goroutines grew from %.0f to %.0f (more than 10%%)", start.goroutines, end.goroutines)
	}
	if end.heapGoal > start.heapGoal*1.10 {
		t.Errorf("heap goal grew from %.0f to %.0f bytes (more than 10%%)", start.heapGoal, end.heapGoal)
	}
	if len(f.st.STS.Calls()) > users {
		t.Errorf("%d STS calls for %d users: credentials are not being cached", len(f.st.STS.Calls()), users)
	}
}
