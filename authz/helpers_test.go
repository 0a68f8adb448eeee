package authz

import (
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/mcp"
)

const testHost = "aws-mcp.us-east-1.api.aws"

// writeFiles writes name → content into a fresh temporary folder.
func writeFiles(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// newTestAuthorizer loads the given policy files (all *.cedar in a temp
// folder) with optional changes to the options.
func newTestAuthorizer(t testing.TB, files map[string]string, mod func(dir string, o *Options)) *Authorizer {
	t.Helper()
	dir := writeFiles(t, files)
	opts := Options{PolicyFiles: []string{filepath.Join(dir, "*.cedar")}, ServerHost: testHost}
	if mod != nil {
		mod(dir, &opts)
	}
	a, err := New(t.Context(), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

// ident is the identity of a token of its own: its digest is random, as
// two tokens' digests differ, so the principal and decision caches serve
// every test that decides for one identity more than once.
func ident(sub string, groups ...string) *authn.Identity {
	id := &authn.Identity{
		Subject: sub,
		Issuer:  "https://idp.example.com",
		Groups:  groups,
		Claims:  map[string]any{"sub": sub, "iss": "https://idp.example.com"},
	}
	_, _ = rand.Read(id.TokenDigest[:])
	return id
}

func request(method string, params string) *mcp.Message {
	m := &mcp.Message{Type: mcp.TypeRequest, ID: json.RawMessage(`1`), Method: method}
	if params != "" {
		m.Params = json.RawMessage(params)
	}
	return m
}

func notification(method string) *mcp.Message {
	return &mcp.Message{Type: mcp.TypeNotification, Method: method}
}

func toolCall(name, args string) *mcp.Message {
	return request("tools/call", `{"name":`+mustJSON(name)+`,"arguments":`+args+`}`)
}

func awsCall(cmd string) *mcp.Message {
	return toolCall("aws___call_aws", `{"cli_command":`+mustJSON(cmd)+`}`)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func post(msgs ...*mcp.Message) Request {
	return Request{
		HTTPMethod: "POST",
		Body:       &mcp.Body{Messages: msgs, Batch: len(msgs) > 1},
		SourceIP:   "10.1.2.3:54321",
		RequestID:  "req-1",
		SessionID:  "sess-1",
		Time:       time.Unix(1767225600, 0),
	}
}

func authorize(t testing.TB, a *Authorizer, id *authn.Identity, req Request) Decision {
	t.Helper()
	d, err := a.Authorize(t.Context(), id, req)
	if err != nil {
		t.Fatalf("Authorize: %v", err)
	}
	return d
}

func mkdirWrite(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), 0o600)
}
