package gateway_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mcpguard/mcpguard/test/envoysim"
	"github.com/mcpguard/mcpguard/test/load/bare"
	"github.com/mcpguard/mcpguard/test/stack"
)

// toolCall is an allowed call for Alice (s3-readers): aws s3 ls.
const toolCall = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"aws___call_aws","arguments":{"cli_command":"aws s3 ls"}}}`

func exchangeRequest(token, session string) *envoysim.Request {
	return &envoysim.Request{
		Method: "POST", Scheme: "http", Authority: "127.0.0.1:18080", Path: "/mcp",
		Headers: []envoysim.Header{
			{Key: "content-type", Value: "application/json"},
			{Key: "accept", Value: "application/json, text/event-stream"},
			{Key: "authorization", Value: "Bearer " + token},
			{Key: "mcp-session-id", Value: session},
			{Key: "mcp-protocol-version", Value: "2025-06-18"},
			{Key: "content-length", Value: "121"},
			{Key: "x-forwarded-for", Value: "127.0.0.1"},
			{Key: "x-forwarded-proto", Value: "http"},
			{Key: "x-request-id", Value: "7d0f3c6e-2a51-4b9e-8c47-1e6a9b3d5f20"},
		},
		Body: []byte(toolCall),
	}
}

// runExchanges drives whole ext_proc exchanges of one request through f:
// request headers, the buffered body and the response headers on one gRPC
// stream, as Envoy does for an allowed tools/call.
func runExchanges(b *testing.B, f *envoysim.Filter, req *envoysim.Request) {
	b.Helper()
	ctx := context.Background()
	resp := &envoysim.Response{Status: 200, Headers: []envoysim.Header{
		{Key: "content-type", Value: "application/json"},
		{Key: "x-amzn-requestid", Value: "5e2b8f0a-9c3d-4e71-b6a4-2d8c0f1e7a93"},
		{Key: "content-length", Value: "64"},
	}}
	b.ReportAllocs()
	for b.Loop() {
		o := f.ProcessRequest(ctx, req)
		if o.Immediate != nil {
			b.Fatalf("request refused: %d %s (%s)", o.Immediate.Status, o.Immediate.Body, o.Details)
		}
		ro := o.ProcessResponse(ctx, resp)
		if ro.Immediate != nil || ro.Status != 200 {
			b.Fatalf("response phase: %+v", ro)
		}
		o.Close()
	}
}

// BenchmarkExchange measures one allowed tools/call through the whole
// ext_proc exchange over a loopback TCP gRPC connection, Envoy's side
// played by envoysim, with warm caches (token verified, credentials
// cached). "bare" is the same exchange against a processor that answers
// CONTINUE and does nothing: the protocol's floor. Both include envoysim's
// client-side cost, so mcpguard minus bare is what mcpguard adds, in time
// and in allocations.
func BenchmarkExchange(b *testing.B) {
	b.Run("bare", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		srv := grpc.NewServer(grpc.MaxRecvMsgSize(4 << 20))
		extprocv3.RegisterExternalProcessorServer(srv, bare.Server{})
		go func() { _ = srv.Serve(ln) }()
		defer srv.Stop()
		conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		f, err := envoysim.New(conn, envoysim.Config{Filter: stack.EnvoyFilter(nil)})
		if err != nil {
			b.Fatal(err)
		}
		runExchanges(b, f, exchangeRequest("eyJhbGciOiJSUzI1NiJ9.e30.c2ln", "3f1c0e7a-5b8d-4d2e-9a61-0c7b2f4e8d10"))
	})
	b.Run("mcpguard", func(b *testing.B) {
		s, err := stack.Start(context.Background(), stack.Options{
			ConfigPath:  "../examples/quickstart/config.yaml",
			Ephemeral:   true,
			AuditWriter: io.Discard,
		})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		tok, err := s.Token(stack.Alice)
		if err != nil {
			b.Fatal(err)
		}
		// mcpguard seals the upstream's session id to its user: open a
		// session as a client does, and use the id it hands out.
		req := exchangeRequest(tok, initializeSession(b, s, tok))
		// The first exchange verifies the token and calls STS; the
		// benchmark measures the warm path after it.
		o := s.Filter.ProcessRequest(context.Background(), req)
		if o.Immediate != nil {
			b.Fatalf("first request refused: %d %s", o.Immediate.Status, o.Immediate.Body)
		}
		o.Close()
		runExchanges(b, s.Filter, req)
	})
}

// initializeSession opens an MCP session through the Envoy stand-in and
// returns the Mcp-Session-Id the client receives.
func initializeSession(b *testing.B, s *stack.Stack, token string) string {
	b.Helper()
	req, err := http.NewRequest(http.MethodPost, s.MCPURL(), strings.NewReader(
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || sid == "" {
		b.Fatalf("initialize: %d, session %q", resp.StatusCode, sid)
	}
	return sid
}
