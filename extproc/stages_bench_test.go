package extproc

import (
	"log/slog"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/mcp"
)

// benchHeaders is the header map Envoy sends for an allowed tools/call
// (gateway's BenchmarkExchange sends the same).
func benchHeaders() *corev3.HeaderMap {
	m := &corev3.HeaderMap{}
	for _, kv := range [][2]string{
		{":method", "POST"}, {":scheme", "http"}, {":authority", "127.0.0.1:18080"}, {":path", "/mcp"},
		{"content-type", "application/json"}, {"accept", "application/json, text/event-stream"},
		{"authorization", "Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"},
		{"mcp-session-id", "up-7"}, {"mcp-protocol-version", "2025-06-18"}, {"content-length", "121"},
		{"x-forwarded-for", "127.0.0.1"}, {"x-forwarded-proto", "http"},
		{"x-request-id", "7d0f3c6e-2a51-4b9e-8c47-1e6a9b3d5f20"},
	} {
		m.Headers = append(m.Headers, &corev3.HeaderValue{Key: kv[0], RawValue: []byte(kv[1])})
	}
	return m
}

func benchExchange(b *testing.B) *exchange {
	b.Helper()
	s, err := New(stagedOptions(Upstream{Host: "aws-mcp.us-east-1.api.aws", Region: "us-east-1", Service: "aws-mcp"}))
	if err != nil {
		b.Fatal(err)
	}
	return &exchange{s: s, upstream: s.o.Upstream, log: newReqLogger(slog.New(slog.DiscardHandler))}
}

// BenchmarkHeaderChecks is the request-header stage before authentication:
// reading the headers mcpguard decides on and the protocol checks of the
// mirrored MCP headers (repeats, origin, protocol version).
func BenchmarkHeaderChecks(b *testing.B) {
	x := benchExchange(b)
	m := benchHeaders()
	b.ReportAllocs()
	for b.Loop() {
		x.hdr = parseRequestHeaders(m)
		if err := x.checkRequestHeaders(x.hdr.mirror); err != nil {
			b.Fatal(err)
		}
	}
}

// bodyCheckExchange is an exchange whose POST headers mirror a 2026-07-28
// tools/call of aws___call_aws, checked, as the body checks find it.
func bodyCheckExchange(b *testing.B) *exchange {
	b.Helper()
	x := benchExchange(b)
	m := &corev3.HeaderMap{}
	for _, kv := range [][2]string{{"mcp-protocol-version", "2026-07-28"}, {"mcp-method", "tools/call"}, {"mcp-name", "aws___call_aws"}} {
		m.Headers = append(m.Headers, &corev3.HeaderValue{Key: kv[0], RawValue: []byte(kv[1])})
	}
	x.hdr.method = "POST"
	if err := x.checkRequestHeaders(parseRequestHeaders(m).mirror); err != nil {
		b.Fatal(err)
	}
	return x
}

// BenchmarkBodyChecks is the era checks of a parsed tools/call body against
// its headers (_meta version, mirrored Mcp-Method and Mcp-Name).
func BenchmarkBodyChecks(b *testing.B) {
	x := bodyCheckExchange(b)
	body, err := mcp.Parse([]byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"},"name":"aws___call_aws","arguments":{"cli_command":"aws s3 ls"}}}`), mcp.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := x.checkBody(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSessionBinding opens a client's sealed session id (AES-GCM, the
// owner binding checked) as every request of a session does; seal is what
// a response that issues a session pays once.
func BenchmarkSessionBinding(b *testing.B) {
	id := &authn.Identity{Issuer: "https://idp.example.com", Subject: "alice"}
	keys := RandomSessionKeys()
	host := "aws-mcp.us-east-1.api.aws"
	sealed := keys.seal("c2a7f0d4-1b2e-4f3a-9c8d-7e6f5a4b3c2d", ownerOf(id, host))
	b.Run("open", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := keys.open(sealed, ownerOf(id, host)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("seal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = keys.seal("c2a7f0d4-1b2e-4f3a-9c8d-7e6f5a4b3c2d", ownerOf(id, host))
		}
	})
}

// BenchmarkBodyChecksFresh is BenchmarkBodyChecks on a body parsed anew
// each time, as each exchange has: what the era checks and the tool call's
// decoding (which the checks start) cost on top of the parse.
func BenchmarkBodyChecksFresh(b *testing.B) {
	x := bodyCheckExchange(b)
	raw := []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","progressToken":"c1d6a7e0-8f3b-4a55-9a1e-2f0c5b7d9e11"},"name":"aws___call_aws","arguments":{"cli_command":"aws s3 ls s3://analytics-prod-eu-west-1/reports/2025/ --recursive --human-readable --summarize","region":"eu-west-1","max_results":50}}}`)
	b.ReportAllocs()
	for b.Loop() {
		body, err := mcp.Parse(raw, mcp.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		if err := x.checkBody(body); err != nil {
			b.Fatal(err)
		}
	}
}
