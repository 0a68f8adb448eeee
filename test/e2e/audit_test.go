package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpguard/mcpguard/audit"
	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/test/stack"
)

// readAudit parses every record of an audit trail.
func readAudit(t *testing.T, b []byte) []audit.Entry {
	t.Helper()
	var out []audit.Entry
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e audit.Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("audit line is not JSON: %v: %s", err, sc.Bytes())
		}
		out = append(out, e)
	}
	return out
}

// TestAuditTrailOfTheSeedScenario runs the brief's scenario and checks the
// records: who called which tool with which role and access key, joined to
// the STS exchange and the upstream request, plus the denials.
func TestAuditTrailOfTheSeedScenario(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	s, _ := startStack(t, stack.Options{Mutate: func(c *config.Config) { c.Audit.Output = path }})
	alice := connect(t, s, stack.Alice)
	if _, err := callAWS(alice, "aws s3 ls"); err != nil {
		t.Fatal(err)
	}
	if res, err := callAWS(alice, "aws ec2 describe-instances"); !deniedByGateway(res, err) {
		t.Fatal("Alice's EC2 call was allowed")
	}
	if r := postJSON(t, s, "not-a-token", initializeBody); r.status != 401 {
		t.Fatalf("bad token: %d", r.status)
	}
	alice.Close()
	s.Close() // flush and close the trail

	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	entries := readAudit(t, raw)
	if rep, err := audit.Verify(bytes.NewReader(raw)); err != nil || rep.BrokenAt != 0 {
		t.Fatalf("chain: %+v %v", rep, err)
	}

	calls := s.STS.Calls()
	if len(calls) != 1 {
		t.Fatalf("STS calls = %d, want 1", len(calls))
	}
	var upstreamID string
	for _, r := range s.AWS.Requests() {
		if bytes.Contains(r.Body, []byte(`"tools/call"`)) {
			upstreamID = r.RequestID
		}
	}

	var sawCall, sawResponse, sawDenied, sawAuthn, sawAssume, sawStart, sawStop bool
	var callSeq uint64
	for _, e := range entries {
		switch e.Type {
		case audit.TypeServerStart:
			sawStart = true
		case audit.TypeServerStop:
			sawStop = true
		case audit.TypeSTSAssumeRole:
			sawAssume = true
			if e.AWS.AccessKeyID != calls[0].AccessKeyID || e.AWS.STSRequestID != calls[0].RequestID || e.AWS.RoleARN != stack.S3Role {
				t.Errorf("sts_assume_role = %+v, want key %s request %s", e.AWS, calls[0].AccessKeyID, calls[0].RequestID)
			}
		case audit.TypeMCPToolCall:
			sawCall = true
			// Written before Envoy forwarded the call: the mcp_response
			// record completes it.
			callSeq = e.Seq
			if e.Outcome != audit.OutcomeForwarded || e.User.Sub != "alice" || e.MCP.Tool != "aws___call_aws" {
				t.Errorf("tool call record = %+v", e.Event)
			}
			if e.MCP.Arguments["cli_command"] != "aws s3 ls" {
				t.Errorf("arguments = %v", e.MCP.Arguments)
			}
			if e.AWS == nil || e.AWS.RoleARN != stack.S3Role || e.AWS.AccessKeyID != calls[0].AccessKeyID ||
				e.AWS.STSRequestID != calls[0].RequestID {
				t.Errorf("tool call AWS = %+v, want role %s key %s", e.AWS, stack.S3Role, calls[0].AccessKeyID)
			}
			if e.RequestID == "" {
				t.Errorf("tool call request id = %q", e.RequestID)
			}
		case audit.TypeMCPResponse:
			if e.RequestSeq != callSeq || callSeq == 0 {
				continue
			}
			sawResponse = true
			if e.Outcome != audit.OutcomeSuccess || e.HTTP.Status != 200 || e.AWS == nil || e.AWS.UpstreamRequestID != upstreamID || upstreamID == "" {
				t.Errorf("tool call response record = %+v, want 200 and upstream %s", e.Event, upstreamID)
			}
		case audit.TypeAuthzDenied:
			sawDenied = true
			if e.Outcome != audit.OutcomeDenied || e.MCP.Tool != "aws___call_aws" || e.Authz.Decision != "deny" || e.HTTP.Status != 403 {
				t.Errorf("denial record = %+v", e.Event)
			}
		case audit.TypeAuthnFailure:
			sawAuthn = true
			if e.Outcome != audit.OutcomeDenied || e.HTTP.Status != 401 || e.Error == nil {
				t.Errorf("authn failure record = %+v", e.Event)
			}
		}
	}
	for what, ok := range map[string]bool{"tool call": sawCall, "tool call response": sawResponse, "authz denial": sawDenied, "authn failure": sawAuthn,
		"sts exchange": sawAssume, "server start": sawStart, "server stop": sawStop} {
		if !ok {
			t.Errorf("no %s record in:\n%s", what, raw)
		}
	}
}

// TestAuditFailureDeniesRequests: with on_failure deny and a trail that
// cannot be written (/dev/full fails every write), requests get 503 and
// nothing is forwarded.
func TestAuditFailureDeniesRequests(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full on this system")
	}
	s, _ := startStack(t, stack.Options{Mutate: func(c *config.Config) { c.Audit.Output = "/dev/full" }})
	tok, _ := s.Token(stack.Alice)
	for range 3 {
		r := postJSON(t, s, tok, initializeBody)
		if r.status != 503 || !strings.Contains(r.body, "audit trail unavailable") {
			t.Fatalf("status %d body %s, want 503 audit trail unavailable", r.status, r.body)
		}
	}
	if n := len(s.AWS.Requests()); n != 0 {
		t.Fatalf("%d requests forwarded without an audit trail", n)
	}
}

// TestNoSecretsAnywhere runs the scenarios and then searches every log
// line, audit record and metric for the token, the AWS secret key, the
// session token and the signatures.
func TestNoSecretsAnywhere(t *testing.T) {
	trail := &stack.Buffer{}
	s, logs := startStack(t, stack.Options{AuditWriter: trail})
	var tokens []string
	for _, u := range []stack.User{stack.Alice, stack.Bob, stack.Dana} {
		cs := connect(t, s, u)
		for _, c := range []string{"aws s3 ls", "aws ec2 describe-instances", "aws s3 ls; aws iam list-users"} {
			_, _ = callAWS(cs, c) // some are denied; the test reads the outcomes from the trail
		}
		cs.Close()
		tok, _ := s.Token(u)
		tokens = append(tokens, tok)
	}
	expired := s.Claims(stack.Eve)
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	bad, _ := s.IdP.Mint(expired)
	postJSON(t, s, bad, initializeBody)
	eve, _ := s.Token(stack.Eve)
	postJSON(t, s, eve, initializeBody)
	tokens = append(tokens, bad, eve)

	resp, err := http.Get("http://" + s.Gateway.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	var secrets []string
	for _, tok := range tokens {
		secrets = append(secrets, tok, strings.Split(tok, ".")[2])
	}
	for _, c := range s.STS.Calls() {
		if cred, ok := s.STS.Issued(c.AccessKeyID); ok {
			secrets = append(secrets, cred.SecretAccessKey, cred.SessionToken)
		}
	}
	for _, r := range s.AWS.Requests() {
		if _, sig, ok := strings.Cut(r.Header.Get("Authorization"), "Signature="); ok {
			secrets = append(secrets, sig)
		}
	}
	if len(secrets) < 10 {
		t.Fatalf("only %d secrets collected; the scenario did not run", len(secrets))
	}
	for name, text := range map[string]string{"logs": logs.String(), "audit": trail.String(), "metrics": string(metrics)} {
		if len(text) == 0 {
			t.Errorf("%s are empty", name)
		}
		for _, sec := range secrets {
			if sec != "" && strings.Contains(text, sec) {
				t.Errorf("%s contain a secret (%d chars, starts %.6s)", name, len(sec), sec)
			}
		}
	}
}

// TestMetricsAfterScenario scrapes /metrics after traffic.
func TestMetricsAfterScenario(t *testing.T) {
	s, _ := startStack(t, stack.Options{})
	cs := connect(t, s, stack.Alice)
	// Two allowed calls and a denied one; the metrics say which is which.
	_, _ = callAWS(cs, "aws s3 ls")
	_, _ = callAWS(cs, "aws s3 ls")
	_, _ = callAWS(cs, "aws ec2 describe-instances")
	postJSON(t, s, "bad", initializeBody)
	wants := []string{
		`mcpguard_requests_total{method="tools/call",outcome="success"} 2`,
		`mcpguard_requests_total{method="tools/call",outcome="denied"} 1`,
		`mcpguard_authz_decisions_total{action="tools/call",decision="allow"} 2`,
		`mcpguard_authz_decisions_total{action="tools/call",decision="deny"} 1`,
		`mcpguard_authn_failures_total{provider="",reason="malformed"} 1`,
		`mcpguard_sts_requests_total{outcome="success"} 1`,
		`mcpguard_credentials_cache_requests_total{result="miss"} 1`,
		`mcpguard_credentials_cache_entries 1`,
		`mcpguard_jwks_refreshes_total{outcome="success",provider=""}`,
		`mcpguard_policy_reloads_total{outcome="success"} 1`,
		`mcpguard_audit_events_total{outcome="forwarded",type="mcp_tool_call"} 2`,
		// An mcp_response may wait for the audit writer's flush timer
		// (audit_config.flush_interval), so the scrape is repeated until
		// it is counted.
		`mcpguard_audit_events_total{outcome="success",type="mcp_response"}`,
		`mcpguard_request_duration_seconds_bucket{phase="body"`,
		`go_goroutines`,
		`process_resident_memory_bytes`,
	}
	var missing []string
	for deadline := time.Now().Add(5 * time.Second); ; {
		body := scrape(t, s)
		missing = missing[:0]
		for _, want := range wants {
			if !strings.Contains(body, want) {
				missing = append(missing, want)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, m := range missing {
		t.Errorf("/metrics lacks %s", m)
	}
}

// scrape returns the gateway's /metrics.
func scrape(t *testing.T, s *stack.Stack) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.Gateway.AdminAddr()+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}
