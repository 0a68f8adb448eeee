package adversarial

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/gateway"
	"github.com/mcpguard/mcpguard/test/envoysim"
	"github.com/mcpguard/mcpguard/test/fakeaws"
	"github.com/mcpguard/mcpguard/test/stack"
)

// post sends body with the bearer token (and session, when given) through
// the Envoy stand-in as an MCP client would.
func post(t *testing.T, s *stack.Stack, tok, body, sid string) *reply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.MCPURL(), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
		req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	}
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := &reply{status: resp.StatusCode, header: resp.Header, body: b}
	var e struct {
		Error *struct {
			Code int `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != nil {
		r.code = e.Error.Code
	}
	return r
}

func token(t *testing.T, s *stack.Stack, u stack.User) string {
	t.Helper()
	tok, err := s.Token(u)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func callBody(cli string) string {
	return `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"aws___call_aws","arguments":{"cli_command":"` + cli + `"}}}`
}

// failedClosed asserts an explicit refusal: the status, a JSON-RPC error
// body when mcpguard wrote the answer, Retry-After on 503, and that the AWS
// MCP Server received nothing since before.
func failedClosed(t *testing.T, s *stack.Stack, r *reply, before int, statuses ...int) {
	t.Helper()
	ok := false
	for _, st := range statuses {
		ok = ok || r.status == st
	}
	if !ok {
		t.Errorf("status = %d (%s), want one of %v", r.status, truncate(r.body, 300), statuses)
	}
	if r.status == 503 && r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if r.status != 504 && r.status != 500 && r.code == 0 {
		t.Errorf("no JSON-RPC error in the answer: %s", truncate(r.body, 300))
	}
	if n := len(s.AWS.Requests()) + len(s.AWS.Rejections()); n != before {
		t.Errorf("the AWS MCP Server received %d requests during the fault", n-before)
	}
}

func upstreamCount(s *stack.Stack) int { return len(s.AWS.Requests()) + len(s.AWS.Rejections()) }

// eventually polls cond for up to d.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cond()
}

// TestFaultJWKSDownAtStart: mcpguard starts while the IdP's JWKS endpoint
// is down. It cannot verify anything, so it refuses every request (503
// with Retry-After, jwks_unavailable, not a pass-through), and recovers on
// its own once the IdP is back.
func TestFaultJWKSDownAtStart(t *testing.T) {
	t.Parallel()
	s, _ := startStack(t, stack.Options{})
	s.IdP.SetDown(true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Restart(ctx, stack.RestartOptions{NoWait: true}); err != nil {
		t.Fatal(err)
	}
	if s.Gateway.Ready() {
		t.Fatal("ready without a key set")
	}
	tok := token(t, s, stack.Alice)
	before, stsBefore := upstreamCount(s), len(s.STS.Calls())
	r := post(t, s, tok, initializeBody, "")
	failedClosed(t, s, r, before, 503)
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if len(s.STS.Calls()) != stsBefore {
		t.Error("STS was called for an unverified token")
	}

	s.IdP.SetDown(false)
	if !eventually(15*time.Second, s.Gateway.Ready) {
		t.Fatal("not ready 15s after the IdP came back")
	}
	if r := post(t, s, tok, initializeBody, ""); r.status != 200 {
		t.Fatalf("after recovery: %d %s", r.status, r.body)
	}
}

// TestFaultJWKSDownMidRun: with the IdP down, tokens signed by keys
// mcpguard already holds keep working, and a token signed by a key it
// cannot fetch is refused.
func TestFaultJWKSDownMidRun(t *testing.T) {
	t.Parallel()
	s, _ := startStack(t, stack.Options{})
	// One token for both requests: a second token minted a second later
	// would differ, miss the credential cache and need STS, which (like
	// AWS STS) cannot verify it while the IdP is down. What is under test
	// is mcpguard's own verification with the key it already holds.
	alice := token(t, s, stack.Alice)
	if r := post(t, s, alice, initializeBody, ""); r.status != 200 {
		t.Fatalf("warm-up: %d %s", r.status, r.body)
	}
	s.IdP.SetDown(true)
	if r := post(t, s, alice, initializeBody, ""); r.status != 200 {
		t.Errorf("known key while the IdP is down: %d %s", r.status, r.body)
	}
	if _, err := s.IdP.Rotate("RS256"); err != nil {
		t.Fatal(err)
	}
	before := upstreamCount(s)
	r := post(t, s, token(t, s, stack.Bob), initializeBody, "") // signed by the new, unfetchable key
	failedClosed(t, s, r, before, 401, 503)

	// Unknown-kid refetches are rate-limited (one per 30 s), so the new
	// key is picked up within that interval of the failed attempt.
	s.IdP.SetDown(false)
	if testing.Short() {
		return
	}
	if !eventually(40*time.Second, func() bool {
		return post(t, s, token(t, s, stack.Bob), initializeBody, "").status == 200
	}) {
		t.Error("the rotated key was not picked up after the IdP came back")
	}
}

// TestFaultSTS runs each STS failure against a user without cached
// credentials: an explicit refusal, nothing forwarded, and recovery once
// STS is healthy again.
func TestFaultSTS(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		filter   func() *extprocfilterv3.ExternalProcessor
		inject   func(*stack.Stack)
		clear    func(*stack.Stack)
		statuses []int
	}{
		{
			name: "slow beyond message_timeout",
			filter: func() *extprocfilterv3.ExternalProcessor {
				f := stack.EnvoyFilter(nil)
				f.MessageTimeout = durationpb.New(time.Second)
				return f
			},
			inject:   func(s *stack.Stack) { s.STS.SetLatency(3 * time.Second) },
			clear:    func(s *stack.Stack) { s.STS.SetLatency(0) },
			statuses: []int{504},
		},
		{
			name:     "garbage XML",
			inject:   func(s *stack.Stack) { s.STS.SetGarbage(true) },
			clear:    func(s *stack.Stack) { s.STS.SetGarbage(false) },
			statuses: []int{502, 503},
		},
		{
			name:     "throttling",
			inject:   func(s *stack.Stack) { s.STS.SetThrottle(1000) },
			clear:    func(s *stack.Stack) { s.STS.SetThrottle(0) },
			statuses: []int{503},
		},
		{
			name:     "down",
			inject:   func(s *stack.Stack) { s.STS.SetDown(true) },
			clear:    func(s *stack.Stack) { s.STS.SetDown(false) },
			statuses: []int{503},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := stack.Options{}
			if tt.filter != nil {
				o.Filter = tt.filter()
			}
			s, _ := startStack(t, o)
			tt.inject(s)
			before := upstreamCount(s)
			start := time.Now()
			r := post(t, s, token(t, s, stack.Alice), initializeBody, "")
			failedClosed(t, s, r, before, tt.statuses...)
			t.Logf("answered %d after %s: %s", r.status, time.Since(start).Round(time.Millisecond), truncate(r.body, 200))
			tt.clear(s)
			if !eventually(10*time.Second, func() bool {
				return post(t, s, token(t, s, stack.Alice), initializeBody, "").status == 200
			}) {
				t.Error("no recovery after the fault was cleared")
			}
		})
	}
}

// TestFaultPolicyReplacedByGarbage: a policy file overwritten with garbage
// is rejected by the hot reload and the last good set stays in force; a
// valid change is applied, which proves the reload path is live.
func TestFaultPolicyReplacedByGarbage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := "../../examples/policies"
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() { // tests/: the policy tests, not policies
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, _ := startStack(t, stack.Options{Mutate: func(c *config.Config) {
		c.Authz.PolicyFiles = []string{filepath.Join(dir, "*.cedar")}
		c.Authz.EntitiesFile = filepath.Join(dir, "entities.json")
	}})
	r := newRunner(t, s, "")
	sid := r.session(t, "alice")
	tok := token(t, s, stack.Alice)
	check := func(when string, s3, ec2 int) {
		t.Helper()
		if got := post(t, s, tok, callBody("aws s3 ls"), sid).status; got != s3 {
			t.Errorf("%s: aws s3 ls = %d, want %d", when, got, s3)
		}
		before := upstreamCount(s)
		if got := post(t, s, tok, callBody("aws ec2 describe-instances"), sid).status; got != ec2 {
			t.Errorf("%s: aws ec2 describe-instances = %d, want %d", when, got, ec2)
		}
		if ec2 != 200 && upstreamCount(s) != before {
			t.Errorf("%s: a denied call reached AWS", when)
		}
	}
	check("initial policies", 200, 403)

	file := filepath.Join(dir, "alice-bob.cedar")
	good, _ := os.ReadFile(file)
	for _, garbage := range []string{
		"permit (principal, action, resource) when { \x00 garbage",
		"forbid (",
		"\xff\xfe binary",
		`permit (principal, action, resource) when { context.x == };`,
	} {
		if err := os.WriteFile(file, []byte(garbage), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := s.Gateway.Reload(); err == nil {
			t.Errorf("garbage %q accepted by reload", garbage)
		}
		check(fmt.Sprintf("after garbage %q", garbage), 200, 403)
	}
	time.Sleep(2500 * time.Millisecond) // the file watcher polls every 2s
	check("after the watcher saw the garbage", 200, 403)

	// A valid change applies: without the S3 permit, Alice is denied.
	changed := strings.Replace(string(good), `@id("s3-readers-use-s3")`+"\npermit", `@id("s3-readers-use-s3")`+"\nforbid", 1)
	if changed == string(good) {
		t.Fatal("could not rewrite the S3 permit")
	}
	if err := os.WriteFile(file, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Gateway.Reload(); err != nil {
		t.Fatalf("valid policy refused: %v", err)
	}
	check("after a valid change", 403, 403)
}

// TestFaultStreamCancelledMidRequest: Envoy cancels the ext_proc stream
// (the client went away) while mcpguard waits for STS. Envoy sends nothing
// upstream; mcpguard must neither crash nor leave the request half done,
// and keeps serving.
func TestFaultStreamCancelledMidRequest(t *testing.T) {
	t.Parallel()
	s, logs := startStack(t, stack.Options{})
	s.STS.SetLatency(2 * time.Second)
	tok := token(t, s, stack.Alice)
	before, stsBefore := upstreamCount(s), len(s.STS.Calls())
	for _, after := range []time.Duration{0, 50 * time.Millisecond, 500 * time.Millisecond} {
		ctx, cancel := context.WithCancel(context.Background())
		if after == 0 {
			cancel()
		} else {
			time.AfterFunc(after, cancel)
		}
		out := s.Filter.ProcessRequest(ctx, &envoysim.Request{
			Method: http.MethodPost, Scheme: "http", Authority: "gateway.local", Path: "/mcp",
			Headers: []envoysim.Header{
				{Key: "content-type", Value: "application/json"},
				{Key: "authorization", Value: "Bearer " + tok},
			},
			Body: []byte(initializeBody),
		})
		if out.Request != nil {
			t.Errorf("cancelled after %s: the request would be forwarded", after)
		}
		out.Close()
		cancel()
	}
	// The shared STS exchange outlives the cancelled streams; the fake
	// records the call when it answers.
	if !eventually(15*time.Second, func() bool { return len(s.STS.Calls()) > stsBefore }) {
		t.Fatal("the shared STS exchange never finished")
	}
	if n := upstreamCount(s) - before; n != 0 {
		t.Errorf("%d requests reached AWS", n)
	}
	s.STS.SetLatency(0)
	if r := post(t, s, tok, initializeBody, ""); r.status != 200 {
		t.Errorf("after cancelled streams: %d %s", r.status, r.body)
	}
	if strings.Contains(logs.String(), "panic") {
		t.Error("mcpguard logged a panic")
	}
}

// TestFaultRestartWithStreamsInFlight restarts mcpguard while Envoy holds
// streams waiting for STS, with a short shutdown grace so the streams are
// cut. Every in-flight request either completes correctly signed or fails
// with a 5xx; none goes upstream unsigned; the new instance serves.
func TestFaultRestartWithStreamsInFlight(t *testing.T) {
	t.Parallel()
	s, _ := startStack(t, stack.Options{Mutate: func(c *config.Config) { c.Server.ShutdownGrace = 200 * time.Millisecond }})
	s.STS.SetLatency(1500 * time.Millisecond)
	users := []stack.User{stack.Alice, stack.Bob, stack.Dana}
	var wg sync.WaitGroup
	results := make([]*reply, 6)
	for i := range results {
		tok := token(t, s, users[i%len(users)])
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = post(t, s, tok, initializeBody, "")
		}()
	}
	time.Sleep(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Restart(ctx, stack.RestartOptions{}); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, r := range results {
		switch {
		case r.status == 200:
		case r.status >= 500:
		default:
			t.Errorf("in-flight request %d: %d %s", i, r.status, truncate(r.body, 200))
		}
	}
	if rj := s.AWS.Rejections(); len(rj) != 0 {
		t.Errorf("AWS refused %d forwarded requests (unsigned or badly signed): %s", len(rj), rj[0].Message)
	}
	s.STS.SetLatency(0)
	if r := post(t, s, token(t, s, stack.Bob), initializeBody, ""); r.status != 200 {
		t.Errorf("after the restart: %d %s", r.status, r.body)
	}
}

// TestFaultClockSkew shifts mcpguard's clock by ten minutes against the
// IdP, STS and AWS. Behind: fresh tokens are not yet valid and are refused
// before anything else happens. Ahead: tokens still verify, but every
// SigV4 signature is dated in the future and AWS refuses it, so nothing
// runs upstream; mcpguard cannot observe its own skew, which is why the
// operator checklist requires a synchronised clock.
func TestFaultClockSkew(t *testing.T) {
	t.Parallel()
	t.Run("behind", func(t *testing.T) {
		s, _ := startStack(t, stack.Options{})
		skewed := func() time.Time { return time.Now().Add(-10 * time.Minute) }
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Restart(ctx, stack.RestartOptions{Gateway: gateway.Options{Now: skewed}}); err != nil {
			t.Fatal(err)
		}
		before, sts := upstreamCount(s), len(s.STS.Calls())
		r := post(t, s, token(t, s, stack.Alice), initializeBody, "")
		failedClosed(t, s, r, before, 401)
		if len(s.STS.Calls()) != sts {
			t.Error("STS called with a token mcpguard considers not yet valid")
		}
	})
	t.Run("ahead", func(t *testing.T) {
		s, _ := startStack(t, stack.Options{})
		skewed := func() time.Time { return time.Now().Add(10 * time.Minute) }
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Restart(ctx, stack.RestartOptions{Gateway: gateway.Options{Now: skewed}}); err != nil {
			t.Fatal(err)
		}
		r := post(t, s, token(t, s, stack.Alice), initializeBody, "")
		if r.status < 400 {
			t.Fatalf("a request signed ten minutes in the future succeeded: %d", r.status)
		}
		if n := len(s.AWS.Requests()); n != 0 {
			t.Errorf("AWS accepted %d requests signed with a skewed clock", n)
		}
		if rj := s.AWS.Rejections(); len(rj) == 0 || rj[0].ErrorType != fakeaws.ErrInvalidSignature {
			t.Errorf("want AWS to refuse the future-dated signature, got %+v", rj)
		}
	})
}
