package extproc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/mcp"
	"github.com/mcpguard/mcpguard/test/envoysim"
)

func TestSessionKeys(t *testing.T) {
	secretA, secretB := bytes.Repeat([]byte("a"), 32), bytes.Repeat([]byte("b"), 32)
	a, err := NewSessionKeys(secretA, nil)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := NewSessionKeys(secretB, secretA)
	if err != nil {
		t.Fatal(err)
	}
	onlyB, _ := NewSessionKeys(secretB, nil)
	alice := ownerOf(&authn.Identity{Issuer: "https://idp", Subject: "alice"}, "aws-mcp.us-east-1.api.aws")
	bob := ownerOf(&authn.Identity{Issuer: "https://idp", Subject: "bob"}, "aws-mcp.us-east-1.api.aws")
	otherIdP := ownerOf(&authn.Identity{Issuer: "https://other", Subject: "alice"}, "aws-mcp.us-east-1.api.aws")
	otherUpstream := ownerOf(&authn.Identity{Issuer: "https://idp", Subject: "alice"}, "aws-mcp.eu-central-1.api.aws")
	sealed := a.seal("upstream-1", alice)
	if again := a.seal("upstream-1", alice); again == sealed {
		t.Error("sealing is deterministic: ids would be linkable across sessions")
	}

	tests := []struct {
		name   string
		keys   *SessionKeys
		sealed string
		owner  owner
		want   string
		err    error
	}{
		{"owner", a, sealed, alice, "upstream-1", nil},
		{"previous key after rotation", rotated, sealed, alice, "upstream-1", nil},
		{"another user", a, sealed, bob, "", errSessionOwner},
		{"same subject at another issuer", a, sealed, otherIdP, "", errSessionOwner},
		{"another upstream", a, sealed, otherUpstream, "", errSessionOwner},
		{"retired key", onlyB, sealed, alice, "", errSessionForged},
		{"upstream's raw id", a, "upstream-1", alice, "", errSessionForged},
		{"truncated", a, sealed[:len(sealed)-3], alice, "", errSessionForged},
		{"flipped byte", a, flip(sealed), alice, "", errSessionForged},
		{"prefix only", a, sessionPrefix, alice, "", errSessionForged},
		{"bad base64", a, sessionPrefix + "***", alice, "", errSessionForged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.keys.open(tt.sealed, tt.owner)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Errorf("open = %q, %v; want %q, %v", got, err, tt.want, tt.err)
			}
		})
	}
	// open returns an id pointing into its own buffer: later opens, of
	// the same id or another, must leave it as it was.
	first, _ := rotated.open(sealed, alice)
	other := rotated.seal("upstream-2", alice)
	for range 3 {
		_, _ = rotated.open(other, alice)
		_, _ = rotated.open(sealed, bob)
	}
	if first != "upstream-1" {
		t.Errorf("an opened id changed to %q after later opens", first)
	}
	if _, err := NewSessionKeys([]byte("short"), nil); err == nil {
		t.Error("a short secret was accepted")
	}
}

func flip(s string) string {
	b := []byte(s)
	i := len(sessionPrefix) + 5
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func TestSessionKeysNeverLogged(t *testing.T) {
	var buf bytes.Buffer
	k, _ := NewSessionKeys([]byte("a-very-secret-session-binding-key!"), nil)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "keys", k)
	if strings.Contains(buf.String(), "secret") || !strings.Contains(buf.String(), "[REDACTED]") {
		t.Errorf("log line = %s", buf.String())
	}
}

// FuzzSessionOpen feeds client-chosen session ids to open: it never
// panics, and only what seal produced for the same owner opens.
func FuzzSessionOpen(f *testing.F) {
	k, _ := NewSessionKeys(bytes.Repeat([]byte("k"), 32), nil)
	o := ownerOf(&authn.Identity{Issuer: "i", Subject: "s"}, "h")
	f.Add(k.seal("abc", o), "abc")
	f.Add("mg1.", "")
	f.Add("mg1.AAAA", "x")
	f.Fuzz(func(t *testing.T, sealed, id string) {
		if got, err := k.open(sealed, o); err == nil && !strings.HasPrefix(sealed, sessionPrefix) {
			t.Fatalf("opened %q without the prefix to %q", sealed, got)
		}
		if id == "" {
			return
		}
		if got, err := k.open(k.seal(id, o), o); err != nil || got != id {
			t.Fatalf("round trip of %q = %q, %v", id, got, err)
		}
	})
}

func TestSessionBindingRewritesBothWays(t *testing.T) {
	keys := RandomSessionKeys()
	h := newHarness(t, func(o *Options) { o.Protocol.Sessions = keys })
	alice := ownerOf(&authn.Identity{Subject: "alice", Issuer: "https://idp.test"}, "aws-mcp.us-east-1.api.aws")
	sealed := keys.seal("up-7", alice)
	out := h.filter.ProcessRequest(context.Background(), post(toolsListBody, "authorization", "Bearer alice", "mcp-session-id", sealed))
	defer out.Close()
	if out.Immediate != nil {
		t.Fatalf("answered locally: %d %s", out.Immediate.Status, out.Immediate.Body)
	}
	if got, _ := envoysim.Get(out.Request.Headers, "mcp-session-id"); got != "up-7" {
		t.Errorf("forwarded session = %q, want up-7", got)
	}
}

const toolsListBody = `{"jsonrpc":"2.0","id":"a","method":"tools/list"}`

// eraExchange is an exchange with parsed headers, for the era checks.
func eraExchange(t *testing.T, headers map[string][]string, marks map[string][]mcp.HeaderMark) *exchange {
	t.Helper()
	s, err := New(stagedOptions(Upstream{Host: "h", Region: "r", Service: "s"}))
	if err != nil {
		t.Fatal(err)
	}
	for tool, ms := range marks {
		s.marks.m = map[string]map[string]toolMarks{"h": {tool: {marks: ms}}}
	}
	x := &exchange{s: s, upstream: s.o.Upstream, log: newReqLogger(slog.New(slog.DiscardHandler))}
	hm := &corev3.HeaderMap{}
	for k, vs := range headers {
		for _, v := range vs {
			hm.Headers = append(hm.Headers, &corev3.HeaderValue{Key: k, RawValue: []byte(v)})
		}
	}
	x.hdr.method = "POST"
	if err := x.checkRequestHeaders(parseRequestHeaders(hm).mirror); err != nil {
		x.failure = err
	}
	return x
}

func TestEraChecks(t *testing.T) {
	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}`
	call := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{` + meta + `,"name":"t","arguments":{"n":5,"b":true,"s":"x"}}}`
	marks := map[string][]mcp.HeaderMark{"t": {{Header: "n", Path: []string{"n"}}, {Header: "b", Path: []string{"b"}}, {Header: "s", Path: []string{"s"}}}}
	v := []string{"2026-07-28"}
	tests := []struct {
		name    string
		headers map[string][]string
		body    string
		kind    mcpguard.Kind // KindInternal: accepted
	}{
		{"all mirrored", map[string][]string{"mcp-protocol-version": v, "mcp-method": {"tools/call"}, "mcp-name": {"t"},
			"mcp-param-n": {"5"}, "mcp-param-b": {"true"}, "mcp-param-s": {"x"}}, call, mcpguard.KindInternal},
		{"integer written differently", map[string][]string{"mcp-protocol-version": v, "mcp-method": {"tools/call"}, "mcp-name": {"t"},
			"mcp-param-n": {"5.0"}, "mcp-param-b": {"true"}, "mcp-param-s": {"x"}}, call, mcpguard.KindHeaderMismatch},
		{"boolean in another case", map[string][]string{"mcp-protocol-version": v, "mcp-method": {"tools/call"}, "mcp-name": {"t"},
			"mcp-param-n": {"5"}, "mcp-param-b": {"True"}, "mcp-param-s": {"x"}}, call, mcpguard.KindHeaderMismatch},
		{"one param missing", map[string][]string{"mcp-protocol-version": v, "mcp-method": {"tools/call"}, "mcp-name": {"t"},
			"mcp-param-n": {"5"}, "mcp-param-s": {"x"}}, call, mcpguard.KindHeaderMismatch},
		{"unsupported header version", map[string][]string{"mcp-protocol-version": {"1999-01-01"}}, call, mcpguard.KindUnsupportedVersion},
		{"notification needs Mcp-Method", map[string][]string{"mcp-protocol-version": v},
			`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}`, mcpguard.KindHeaderMismatch},
		{"response with mirrored headers", map[string][]string{"mcp-method": {"tools/call"}},
			`{"jsonrpc":"2.0","id":1,"result":{}}`, mcpguard.KindHeaderMismatch},
		{"older era without headers", nil, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"}}`, mcpguard.KindInternal},
		{"older era batch", nil, `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, mcpguard.KindInternal},
		{"batch with a mirrored header", map[string][]string{"mcp-method": {"ping"}}, `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, mcpguard.KindHeaderMismatch},
		{"two versions in a batch", nil, `[{"jsonrpc":"2.0","id":1,"method":"ping","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2025-11-25"}}},` +
			`{"jsonrpc":"2.0","id":2,"method":"ping","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2025-06-18"}}}]`, mcpguard.KindInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := eraExchange(t, tt.headers, marks)
			err := x.failure
			if err == nil {
				b, perr := mcp.Parse([]byte(tt.body), mcp.DefaultLimits())
				if perr != nil {
					t.Fatal(perr)
				}
				err = x.checkBody(b)
			}
			if tt.kind == mcpguard.KindInternal {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || mcpguard.KindOf(err) != tt.kind {
				t.Fatalf("err = %v (%v), want kind %v", err, mcpguard.KindOf(err), tt.kind)
			}
		})
	}
}

func TestUnsupportedVersionListsSupported(t *testing.T) {
	x := eraExchange(t, map[string][]string{"mcp-protocol-version": {"1999-01-01"}}, nil)
	resp := immediate(denial{err: x.failure, jsonrpcID: json.RawMessage(`1`)})
	var body struct {
		Error struct {
			Code int `json:"code"`
			Data struct {
				Supported []string `json:"supported"`
				Requested string   `json:"requested"`
			} `json:"data"`
		} `json:"error"`
	}
	if err := json.Unmarshal(resp.GetImmediateResponse().GetBody(), &body); err != nil {
		t.Fatal(err)
	}
	if resp.GetImmediateResponse().GetStatus().GetCode() != 400 || body.Error.Code != -32022 ||
		body.Error.Data.Requested != "1999-01-01" || len(body.Error.Data.Supported) != len(mcp.DefaultVersions()) {
		t.Errorf("response = %d %s", resp.GetImmediateResponse().GetStatus().GetCode(), resp.GetImmediateResponse().GetBody())
	}
}

func BenchmarkEraChecks2026(b *testing.B) {
	s, _ := New(stagedOptions(Upstream{Host: "h", Region: "r", Service: "s"}))
	s.marks.m = map[string]map[string]toolMarks{"h": {"aws___run_script": {marks: []mcp.HeaderMark{{Header: "region", Path: []string{"region"}}}}}}
	body := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"},"name":"aws___run_script","arguments":{"code":"print(1)","region":"us-east-1"}}}`)
	hm := &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
		{Key: "mcp-protocol-version", RawValue: []byte("2026-07-28")}, {Key: "mcp-method", RawValue: []byte("tools/call")},
		{Key: "mcp-name", RawValue: []byte("aws___run_script")}, {Key: "mcp-param-region", RawValue: []byte("us-east-1")},
	}}
	b.ReportAllocs()
	for b.Loop() {
		x := &exchange{s: s, upstream: s.o.Upstream}
		x.hdr.method = "POST"
		parsed, err := mcp.Parse(body, mcp.DefaultLimits())
		if err != nil {
			b.Fatal(err)
		}
		if err := x.checkRequestHeaders(parseRequestHeaders(hm).mirror); err != nil {
			b.Fatal(err)
		}
		if err := x.checkBody(parsed); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSessionOpen(b *testing.B) {
	k := RandomSessionKeys()
	o := ownerOf(&authn.Identity{Issuer: "https://idp", Subject: "alice"}, "h")
	sealed := k.seal("3f0e0c9a-6a55-4d83-9a0e-6c3b1f1d2a77", o)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.open(sealed, o); err != nil {
			b.Fatal(err)
		}
	}
}
