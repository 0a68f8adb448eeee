package fakeaws_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpguard/mcpguard/sigv4"
	"github.com/mcpguard/mcpguard/test/fakeaws"
)

const (
	s3Role  = "arn:aws:iam::123456789012:role/S3ReadOnlyMCPRole"
	ec2Role = "arn:aws:iam::123456789012:role/EC2ViewOnlyMCPRole"
)

var (
	alice = fakeaws.Credential{AccessKeyID: "ASIAALICEEXAMPLE0001", SecretAccessKey: "aliceSecretKeyEXAMPLEaliceSecretKeyEXAM",
		SessionToken: "FwoGZXIvYXdzEALICE//token+one==", RoleARN: s3Role, SessionName: "alice@example.com"}
	bob = fakeaws.Credential{AccessKeyID: "ASIABOBEXAMPLE000002", SecretAccessKey: "bobSecretKeyEXAMPLEbobSecretKeyEXAMPLEb",
		SessionToken: "FwoGZXIvYXdzEBOB//token+two==", RoleARN: ec2Role, SessionName: "bob@example.com"}
	expired = fakeaws.Credential{AccessKeyID: "ASIAEXPIREDEXAMPLE03", SecretAccessKey: "expiredSecretKeyEXAMPLEexpiredSecretKey",
		SessionToken: "FwoGZXIvYXdzEOLD//token==", RoleARN: s3Role, SessionName: "carol@example.com",
		Expiration: time.Now().Add(-time.Minute)}
	longTerm = fakeaws.Credential{AccessKeyID: "AKIALONGTERMEXAMPLE4", SecretAccessKey: "longTermSecretKeyEXAMPLElongTermSecretK",
		RoleARN: s3Role, SessionName: "dave"}
)

func lookup(id string) (fakeaws.Credential, bool) {
	for _, c := range []fakeaws.Credential{alice, bob, expired, longTerm} {
		if c.AccessKeyID == id {
			return c, true
		}
	}
	return fakeaws.Credential{}, false
}

func sdkCreds(c fakeaws.Credential) aws.Credentials {
	return aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken}
}

// newServer starts a fake with the legacy aws___call_aws, which most tests
// here drive.
func newServer(t *testing.T, jsonResponse bool) *fakeaws.Server {
	t.Helper()
	return newServerWith(t, fakeaws.Options{JSONResponse: jsonResponse, LegacyCallAWS: true})
}

func newServerWith(t *testing.T, o fakeaws.Options) *fakeaws.Server {
	t.Helper()
	o.Lookup = lookup
	o.Permissions = map[string][]string{s3Role: {"s3"}, ec2Role: {"ec2"}}
	s, err := fakeaws.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// signingTransport signs every request with package sigv4 the way mcpguard
// does, then lets after change the signed request (to play a proxy or an
// attacker).
type signingTransport struct {
	signer  *sigv4.Signer
	creds   aws.Credentials
	region  string
	service string
	time    time.Time
	after   func(*http.Request)
}

func (st *signingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	out := req.Clone(req.Context())
	res, err := st.signer.Sign(req.Context(), sigv4.Request{
		Method: req.Method, Host: req.URL.Host, Path: req.URL.RequestURI(), Body: body,
		ContentType: req.Header.Get("Content-Type"), Credentials: st.creds,
		Region: st.region, Service: st.service, Time: st.time,
	})
	if err != nil {
		return nil, err
	}
	for n := range out.Header {
		if strings.HasPrefix(strings.ToLower(n), "x-amz-") {
			out.Header.Del(n) // as extproc strips the client's AWS headers
		}
	}
	for _, h := range res.Set {
		out.Header.Set(h.Name, h.Value)
	}
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.ContentLength = int64(len(body))
	if st.after != nil {
		st.after(out)
	}
	return http.DefaultTransport.RoundTrip(out)
}

func transportFor(c fakeaws.Credential) *signingTransport {
	return &signingTransport{signer: sigv4.New(sigv4.Options{}), creds: sdkCreds(c), region: "us-east-1", service: "aws-mcp"}
}

func connect(t *testing.T, s *fakeaws.Server, rt http.RoundTripper) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "fakeaws-test", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint: s.URL(), HTTPClient: &http.Client{Transport: rt}, MaxRetries: -1,
	}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	return cs
}

func callText(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("call %s: %v", name, err)
	}
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String(), res.IsError
}

// TestMCPThroughSigningClient drives the server with the MCP Go SDK client
// over a transport that signs with package sigv4, in SSE and JSON modes.
func TestMCPThroughSigningClient(t *testing.T) {
	for _, mode := range []struct {
		name string
		json bool
	}{{"sse", false}, {"json", true}} {
		t.Run(mode.name, func(t *testing.T) {
			s := newServer(t, mode.json)
			cs := connect(t, s, transportFor(alice))
			if cs.ID() == "" {
				t.Error("no Mcp-Session-Id")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			tools, err := cs.ListTools(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tl := range tools.Tools {
				names = append(names, tl.Name)
			}
			want := []string{fakeaws.ToolCallAWS, fakeaws.ToolListRegions, fakeaws.ToolSearchDocumentation, fakeaws.ToolSuggestAWSCommands}
			for _, w := range want {
				if !strings.Contains(strings.Join(names, ","), w) {
					t.Errorf("tools %v lack %s", names, w)
				}
			}
			out, isErr := callText(t, cs, fakeaws.ToolCallAWS, map[string]any{"cli_command": "aws s3api list-buckets", "max_results": 2})
			if isErr || !strings.Contains(out, "mcpguard-demo-logs") || strings.Contains(out, "mcpguard-demo-reports") {
				t.Errorf("list-buckets (isError=%v):\n%s", isErr, out)
			}
			out, isErr = callText(t, cs, fakeaws.ToolSearchDocumentation, map[string]any{"search_phrase": "list S3 buckets", "limit": 1})
			var hits []map[string]any
			if isErr || json.Unmarshal([]byte(out), &hits) != nil || len(hits) != 1 || hits[0]["title"] != "Listing Amazon S3 buckets" {
				t.Errorf("search_documentation: %s", out)
			}
			out, isErr = callText(t, cs, fakeaws.ToolSuggestAWSCommands, map[string]any{"query": "show my ec2 instances"})
			if isErr || !strings.Contains(out, "aws ec2 describe-instances") {
				t.Errorf("suggest: %s", out)
			}
			out, isErr = callText(t, cs, fakeaws.ToolListRegions, map[string]any{})
			if isErr || !strings.Contains(out, `"region_id": "eu-central-1"`) {
				t.Errorf("list_regions: %s", out)
			}
			if err := cs.Close(); err != nil {
				t.Errorf("close session: %v", err)
			}

			if r := s.Rejections(); len(r) != 0 {
				t.Errorf("rejections: %+v", r)
			}
			methods := map[string]int{}
			for _, r := range s.Requests() {
				methods[r.Method]++
				if r.RoleARN != s3Role || r.SessionName != "alice@example.com" {
					t.Errorf("request recorded as %s/%s", r.RoleARN, r.SessionName)
				}
				if r.Header.Get("X-Fakeaws-Role-Arn") != "" {
					t.Error("internal header recorded")
				}
			}
			if methods["POST"] < 6 || methods["DELETE"] != 1 {
				t.Errorf("recorded methods %v; want >=6 POST and the DELETE of the session", methods)
			}
		})
	}
}

// TestStandaloneStream checks that the signed GET stream is accepted.
func TestStandaloneStream(t *testing.T) {
	s := newServer(t, false)
	cs := connect(t, s, transportFor(alice))
	defer cs.Close()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, r := range s.Requests() {
			if r.Method == http.MethodGet {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no GET stream accepted; rejections %+v", s.Rejections())
}

// TestRoleDependentAnswers checks that aws___call_aws answers as the
// verified role, and that a client-sent role header changes nothing.
func TestRoleDependentAnswers(t *testing.T) {
	s := newServer(t, false)
	spoof := transportFor(bob)
	spoof.after = func(r *http.Request) {
		r.Header.Set("X-Fakeaws-Role-Arn", s3Role)
		r.Header.Set("X-Fakeaws-Session-Name", "alice@example.com")
	}
	clients := map[string]*mcp.ClientSession{
		"alice": connect(t, s, transportFor(alice)),
		"bob":   connect(t, s, transportFor(bob)),
		"spoof": connect(t, s, spoof),
	}
	for _, cs := range clients {
		defer cs.Close()
	}
	tests := []struct {
		who, cmd string
		isErr    bool
		want     string
	}{
		{"alice", "aws s3 ls", false, "2025-02-14 16:30:00 mcpguard-demo-logs"},
		{"alice", "aws s3api list-buckets", false, `"Name": "mcpguard-demo-artifacts"`},
		{"alice", "aws ec2 describe-instances", true,
			"An error occurred (AccessDenied) when calling the DescribeInstances operation: User: arn:aws:sts::123456789012:assumed-role/S3ReadOnlyMCPRole/alice@example.com is not authorized to perform: ec2:DescribeInstances"},
		{"bob", "aws ec2 describe-instances", false, `"InstanceId": "i-0a1b2c3d4e5f60718"`},
		{"bob", "aws s3 ls", true,
			"An error occurred (AccessDenied) when calling the ListBuckets operation: User: arn:aws:sts::123456789012:assumed-role/EC2ViewOnlyMCPRole/bob@example.com is not authorized to perform: s3:ListBuckets"},
		{"bob", "aws s3api list-buckets", true, "not authorized to perform: s3:ListBuckets"},
		{"bob", "aws sts get-caller-identity", false, `"Arn": "arn:aws:sts::123456789012:assumed-role/EC2ViewOnlyMCPRole/bob@example.com"`},
		{"spoof", "aws s3 ls", true, "assumed-role/EC2ViewOnlyMCPRole/bob@example.com is not authorized to perform: s3:ListBuckets"},
		{"alice", "ls -la", true, "Invalid AWS CLI command"},
	}
	for _, tt := range tests {
		t.Run(tt.who+" "+tt.cmd, func(t *testing.T) {
			out, isErr := callText(t, clients[tt.who], fakeaws.ToolCallAWS, map[string]any{"cli_command": tt.cmd})
			if isErr != tt.isErr || !strings.Contains(out, tt.want) {
				t.Errorf("isError=%v output:\n%s\nwant isError=%v containing %q", isErr, out, tt.isErr, tt.want)
			}
		})
	}
}

const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestRejections sends one raw request per case and checks the verdict.
func TestRejections(t *testing.T) {
	s := newServer(t, true)
	now := time.Now()
	wrongSecret := alice
	wrongSecret.SecretAccessKey = "not-the-secret-EXAMPLEnot-the-secret-EX"
	noToken := alice
	noToken.SessionToken = ""
	wrongToken := alice
	wrongToken.SessionToken = "FwoGZXIvYXdzEMALLORY=="
	unknown := alice
	unknown.AccessKeyID = "ASIAUNKNOWNEXAMPLE99"

	tests := []struct {
		name     string
		cred     fakeaws.Credential
		service  string
		region   string
		time     time.Time
		omitHash bool
		path     string
		after    func(*http.Request)
		status   int
		errType  string
		msg      string
	}{
		{name: "valid", cred: alice, status: http.StatusOK},
		{name: "valid long-term key", cred: longTerm, status: http.StatusOK},
		{name: "unsigned headers added by a proxy", cred: alice, status: http.StatusOK, after: func(r *http.Request) {
			r.Header.Set("X-Forwarded-For", "10.1.2.3")
			r.Header.Set("X-Request-Id", "5b0c1f2e")
			r.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
			r.Header.Set("X-Envoy-Expected-Rq-Timeout-Ms", "15000")
		}},
		{name: "encoded path verified then not found", cred: alice, path: "/mcp/arn%3Aaws%2Fx:y%20z", status: http.StatusNotFound},
		{name: "dot segments verified then redirected", cred: alice, path: "/x/../mcp", status: http.StatusTemporaryRedirect},
		{name: "clock skew within five minutes", cred: alice, time: now.Add(-4 * time.Minute), status: http.StatusOK},
		{name: "no authorization", cred: alice, after: func(r *http.Request) { r.Header.Del("Authorization") },
			status: 403, errType: fakeaws.ErrIncompleteSignature, msg: "Request is missing Authentication Token"},
		{name: "user's bearer token", cred: alice, after: func(r *http.Request) { r.Header.Set("Authorization", "Bearer eyJhbGciOi.x.y") },
			status: 403, errType: fakeaws.ErrIncompleteSignature, msg: "Unsupported authorization type: Bearer"},
		{name: "no signature part", cred: alice, after: func(r *http.Request) {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:strings.Index(a, ", Signature=")])
		}, status: 403, errType: fakeaws.ErrIncompleteSignature, msg: "Authorization header requires 'Signature' parameter."},
		{name: "no x-amz-date", cred: alice, after: func(r *http.Request) { r.Header.Del("X-Amz-Date") },
			status: 403, errType: fakeaws.ErrIncompleteSignature, msg: "X-Amz-Date"},
		{name: "tampered body with payload hash header", cred: alice, after: tamper,
			status: 403, errType: fakeaws.ErrInvalidSignature, msg: "'x-amz-content-sha256' header does not match"},
		{name: "tampered body without payload hash header", cred: alice, omitHash: true, after: tamper,
			status: 403, errType: fakeaws.ErrInvalidSignature, msg: "The request signature we calculated does not match"},
		{name: "signed header changed", cred: alice, after: func(r *http.Request) { r.Header.Set("Content-Type", "application/json; charset=utf-8") },
			status: 403, errType: fakeaws.ErrInvalidSignature, msg: "does not match the signature you provided"},
		{name: "wrong service", cred: alice, service: "execute-api",
			status: 403, errType: fakeaws.ErrInvalidSignature, msg: "Credential should be scoped to correct service: 'aws-mcp'."},
		{name: "wrong region", cred: alice, region: "eu-west-1",
			status: 403, errType: fakeaws.ErrInvalidSignature, msg: "Credential should be scoped to a valid region."},
		{name: "date too old", cred: alice, time: now.Add(-6 * time.Minute),
			status: 403, errType: fakeaws.ErrInvalidSignature, msg: "Signature expired"},
		{name: "date in the future", cred: alice, time: now.Add(6 * time.Minute),
			status: 403, errType: fakeaws.ErrInvalidSignature, msg: "Signature not yet current"},
		{name: "unknown key", cred: unknown,
			status: 403, errType: fakeaws.ErrUnrecognizedClient, msg: "The security token included in the request is invalid."},
		{name: "expired credentials", cred: expired,
			status: 403, errType: fakeaws.ErrExpiredToken, msg: "The security token included in the request is expired"},
		{name: "missing session token", cred: noToken,
			status: 403, errType: fakeaws.ErrUnrecognizedClient, msg: "invalid"},
		{name: "wrong session token", cred: wrongToken,
			status: 403, errType: fakeaws.ErrUnrecognizedClient, msg: "invalid"},
		{name: "token on a long-term key", cred: longTerm, after: func(r *http.Request) { r.Header.Set("X-Amz-Security-Token", alice.SessionToken) },
			status: 403, errType: fakeaws.ErrUnrecognizedClient, msg: "invalid"},
		{name: "wrong secret", cred: wrongSecret,
			status: 403, errType: fakeaws.ErrInvalidSignature, msg: "does not match the signature you provided"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := transportFor(tt.cred)
			st.signer = sigv4.New(sigv4.Options{OmitPayloadHashHeader: tt.omitHash})
			if tt.service != "" {
				st.service = tt.service
			}
			if tt.region != "" {
				st.region = tt.region
			}
			st.time, st.after = tt.time, tt.after
			url := s.URL()
			if tt.path != "" {
				url = strings.TrimSuffix(url, "/mcp") + tt.path
			}
			req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(initBody))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			before := len(s.Rejections())
			resp, err := st.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.status, body)
			}
			if id := resp.Header.Get("X-Amzn-Requestid"); !uuidRE.MatchString(id) {
				t.Errorf("x-amzn-RequestId %q", id)
			}
			rej := s.Rejections()
			if tt.status != 403 {
				if len(rej) != before {
					t.Errorf("rejected: %+v", rej[before:])
				}
				return
			}
			if got := resp.Header.Get("X-Amzn-Errortype"); got != tt.errType {
				t.Errorf("x-amzn-ErrorType %q, want %q", got, tt.errType)
			}
			var e struct{ Message string }
			if err := json.Unmarshal(body, &e); err != nil || !strings.Contains(e.Message, tt.msg) {
				t.Errorf("body %s, want message containing %q", body, tt.msg)
			}
			if len(rej) != before+1 || rej[before].ErrorType != tt.errType || rej[before].Status != 403 {
				t.Errorf("rejections %+v", rej[before:])
			}
		})
	}
}

// tamper replaces the signed body with one of the same length.
func tamper(r *http.Request) {
	b := strings.Replace(initBody, `"name":"t"`, `"name":"x"`, 1)
	r.Body = io.NopCloser(strings.NewReader(b))
	r.ContentLength = int64(len(b))
}
