package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpguard/mcpguard/audit"
	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/test/fakeaws"
	"github.com/mcpguard/mcpguard/test/stack"
)

// sigv4Transport signs every request with fixed credentials, as a client
// holding stolen credentials would, straight at the AWS MCP Server.
type sigv4Transport struct {
	creds        aws.Credentials
	host, region string
	service      string
	now          func() time.Time
	base         http.RoundTripper
	signer       *v4.Signer
}

func (tr *sigv4Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			return nil, err
		}
		r.Body.Close()
	}
	r = r.Clone(r.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.Host = tr.host
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	r.Header.Set("X-Amz-Content-Sha256", hash)
	if err := tr.signer.SignHTTP(r.Context(), tr.creds, r, hash, tr.service, tr.region, tr.now()); err != nil {
		return nil, err
	}
	return tr.base.RoundTrip(r)
}

// TestScopeDownPerRequest: under scope_down request a data analyst's
// ListBuckets script runs; the credentials minted for it, replayed by the
// test straight at the AWS MCP Server, cannot call iam:ListUsers nor even
// s3:ListObjectsV2, which the role itself allows; tools/list is signed
// with a session that allows no action; and the audit record carries the
// session's actions and the digest of the policy STS received.
func TestScopeDownPerRequest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	s, _ := startStack(t, stack.Options{Mutate: func(c *config.Config) {
		c.Audit.Output = path
		c.STS.ScopeDown = config.ScopeDownRequest
	}})
	cs := connect(t, s, stack.Dana)

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if _, err := cs.ListTools(ctx, nil); err != nil {
		t.Fatal(err)
	}
	res, err := runScript(cs, listBucketsScript)
	if err != nil || res.IsError || resultText(res) != `"mcpguard-demo-artifacts"` {
		t.Fatalf("list buckets: err=%v result=%+v", err, res)
	}

	policyOf := func(method, tool string) (string, string) {
		t.Helper()
		for _, r := range slices.Backward(s.AWS.Requests()) {
			var m struct {
				Method string `json:"method"`
				Params struct {
					Name string `json:"name"`
				} `json:"params"`
			}
			if json.Unmarshal(r.Body, &m) != nil || m.Method != method || (tool != "" && m.Params.Name != tool) {
				continue
			}
			c, ok := s.STS.Issued(r.AccessKeyID)
			if !ok {
				t.Fatalf("%s signed with credentials STS did not issue", method)
			}
			return r.AccessKeyID, c.SessionPolicy
		}
		t.Fatalf("no %s request reached AWS", method)
		return "", ""
	}
	_, listPolicy := policyOf("tools/list", "")
	if listPolicy != `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}` {
		t.Fatalf("tools/list session policy %s, want one that allows nothing", listPolicy)
	}
	akid, scriptPolicy := policyOf("tools/call", fakeaws.ToolRunScript)
	if !strings.Contains(scriptPolicy, `"Action":["s3:ListAllMyBuckets"]`) || !strings.Contains(scriptPolicy, "aws:ViaAWSMCPService") {
		t.Fatalf("run_script session policy %s", scriptPolicy)
	}

	// Replay the script's credentials, bypassing the gateway.
	cred, _ := s.STS.Issued(akid)
	signer := &sigv4Transport{
		creds: aws.Credentials{AccessKeyID: cred.AccessKeyID, SecretAccessKey: cred.SecretAccessKey, SessionToken: cred.SessionToken},
		host:  s.Config.Upstream.Host, region: s.Config.Upstream.Region, service: s.Config.Upstream.Service,
		now: time.Now, base: http.DefaultTransport, signer: v4.NewSigner(),
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "replay", Version: "1"}, nil)
	direct, err := client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint: s.AWS.URL(), HTTPClient: &http.Client{Transport: signer},
		DisableStandaloneSSE: true, MaxRetries: -1,
	}, nil)
	if err != nil {
		t.Fatalf("replayed credentials cannot even connect: %v", err)
	}
	defer direct.Close()
	for _, tt := range []struct{ code, want string }{
		{listBucketsScript, ""},
		{"return await call_boto3(service_name='iam', operation_name='ListUsers')\n", "(AccessDenied) when calling the ListUsers operation"},
		{"return await call_boto3(service_name='s3', operation_name='ListObjectsV2', params={'Bucket': 'mcpguard-demo-artifacts'})\n",
			"is not authorized to perform: s3:ListBucket because no session policy allows the s3:ListBucket action"},
	} {
		r, err := direct.CallTool(ctx, &mcp.CallToolParams{Name: fakeaws.ToolRunScript, Arguments: map[string]any{"code": tt.code}})
		if err != nil {
			t.Fatal(err)
		}
		if tt.want == "" {
			if r.IsError {
				t.Fatalf("the script's own call failed on replay: %s", resultText(r))
			}
			continue
		}
		if !r.IsError || !strings.Contains(resultText(r), tt.want) {
			t.Fatalf("replayed %q: error=%v %q, want %q", tt.code, r.IsError, resultText(r), tt.want)
		}
	}

	// The audit record joins CloudTrail by the policy's digest.
	cs.Close()
	direct.Close()
	s.Close() // flush and close the trail
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(scriptPolicy))
	found := false
	for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		var ev audit.Event
		if json.Unmarshal(line, &ev) != nil || ev.AWS == nil || ev.AWS.AccessKeyID != akid {
			continue
		}
		if ev.AWS.SessionPolicyDigest == hex.EncodeToString(sum[:]) && slices.Equal(ev.AWS.SessionActions, []string{"s3:ListAllMyBuckets"}) {
			found = true
		}
	}
	if !found {
		t.Fatalf("no audit record of %s with the session's actions and policy digest", akid)
	}
}

// TestScopeDownRefusesUnknownTool: a tool whose AWS actions cannot be
// known is refused with 403 under unknown_tools refuse (the default), never
// signed with a broader session, and before any STS call.
func TestScopeDownRefusesUnknownTool(t *testing.T) {
	s, _ := startStack(t, stack.Options{Mutate: func(c *config.Config) {
		c.STS.ScopeDown = config.ScopeDownRequest
		c.Audit.Output = filepath.Join(t.TempDir(), "audit.log")
	}})
	tok, err := s.Token(stack.Dana)
	if err != nil {
		t.Fatal(err)
	}
	before := len(s.STS.Calls())
	body := `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"custom___deploy","arguments":{}}}`
	r := postJSON(t, s, tok, body)
	if r.status != 403 || !strings.Contains(r.body, "custom___deploy") {
		t.Fatalf("unknown tool got %d %s", r.status, r.body)
	}
	if n := len(s.STS.Calls()); n != before {
		t.Fatalf("a refused request made %d STS calls", n-before)
	}
}

// TestScopeDownSetBound: past max_action_sets a new action set gets 429
// with Retry-After and an audit record, never a broader session; sets
// already held keep working.
func TestScopeDownSetBound(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	s, _ := startStack(t, stack.Options{Mutate: func(c *config.Config) {
		c.Audit.Output = path
		c.STS.ScopeDown = config.ScopeDownRequest
		c.STS.ScopeDownConfig.MaxActionSets = 1
	}})
	tok, err := s.Token(stack.Dana)
	if err != nil {
		t.Fatal(err)
	}
	script := func(id int) string {
		b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": "tools/call",
			"params": map[string]any{"name": fakeaws.ToolRunScript, "arguments": map[string]any{"code": listBucketsScript}}})
		return string(b)
	}
	if r := postJSON(t, s, tok, script(1)); r.status != 200 {
		t.Fatalf("first set: %d %s", r.status, r.body)
	}
	calls := len(s.STS.Calls())
	r := postJSON(t, s, tok, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"aws___search_documentation","arguments":{"search_phrase":"s3"}}}`)
	if r.status != 429 || r.header.Get("Retry-After") == "" || !strings.Contains(r.body, "distinct sets") {
		t.Fatalf("second set: %d retry-after %q %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	if len(s.STS.Calls()) != calls {
		t.Fatal("a refused set reached STS")
	}
	if r := postJSON(t, s, tok, script(3)); r.status != 200 {
		t.Fatalf("held set: %d %s", r.status, r.body)
	}
	s.Close() // flush and close the trail
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(`"reason":"scope_too_many_sets"`)) {
		t.Fatal("no audit record of the refused set")
	}
}
