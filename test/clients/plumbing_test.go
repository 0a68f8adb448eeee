package clients

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mcpguard/mcpguard/test/stack"
)

// post sends one JSON-RPC message through the Envoy stand-in and returns
// the status, the headers and (for a stream) the first bytes of the body.
func post(t *testing.T, s *stack.Stack, tok, body string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.MCPURL(), strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", body, err)
	}
	defer resp.Body.Close()
	b := make([]byte, 4096)
	n, _ := io.ReadAtLeast(resp.Body, b, 1) // a stream (subscriptions/listen) stays open: its first event is enough
	return resp.StatusCode, resp.Header, string(b[:n])
}

// forwardedTo runs send and checks that mcpguard let the message through:
// the fake AWS MCP Server accepted one more signed request, and the answer
// is not one of mcpguard's refusals.
func forwardedTo(t *testing.T, s *stack.Stack, what string, send func() (int, string)) {
	t.Helper()
	before := len(s.AWS.Requests())
	code, body := send()
	if after := len(s.AWS.Requests()); after != before+1 || code == http.StatusForbidden || strings.Contains(body, "-32003") {
		t.Errorf("%s: %d %s (AWS requests %d -> %d): not forwarded", what, code, body, before, after)
	}
}

// TestPlumbingBothEras: every piece of protocol plumbing real clients send
// right after connecting passes mcpguard's example baseline in both eras
// (the upstream may still answer that it lacks a feature; mcpguard must
// not be the one refusing).
func TestPlumbingBothEras(t *testing.T) {
	t.Run("2025-11-25", func(t *testing.T) {
		s := startQuickstart(t, false)
		tok, _ := s.LoginToken(stack.Alice)
		code, h, body := post(t, s, tok, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`, nil)
		sid := h.Get("Mcp-Session-Id")
		if code != http.StatusOK || sid == "" {
			t.Fatalf("initialize: %d %s", code, body)
		}
		hdr := map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"}
		for _, m := range []string{
			`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
			`{"jsonrpc":"2.0","id":2,"method":"ping"}`,
			`{"jsonrpc":"2.0","id":3,"method":"logging/setLevel","params":{"level":"info"}}`,
			`{"jsonrpc":"2.0","id":4,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"p"},"argument":{"name":"a","value":"x"}}}`,
			`{"jsonrpc":"2.0","id":5,"method":"resources/templates/list"}`,
			`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}}`,
			`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t","progress":1}}`,
			`{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}`,
		} {
			forwardedTo(t, s, m, func() (int, string) { c, _, b := post(t, s, tok, m, hdr); return c, b })
		}
	})
	t.Run("2026-07-28", func(t *testing.T) {
		s, err := stack.Start(t.Context(), stack.Options{
			ConfigPath: "../../examples/quickstart/config.yaml", Ephemeral: true, FakeAWSStateless: true, AuditWriter: &stack.Buffer{},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		tok, _ := s.LoginToken(stack.Alice)
		meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}`
		for _, c := range []struct{ method, params string }{
			{"server/discover", ``},
			{"ping", ``},
			{"logging/setLevel", `"level":"info",`},
			{"completion/complete", `"ref":{"type":"ref/prompt","name":"p"},"argument":{"name":"a","value":"x"},`},
			{"resources/templates/list", ``},
			{"subscriptions/listen", `"notifications":{"toolsListChanged":true},`},
		} {
			m := `{"jsonrpc":"2.0","id":7,"method":"` + c.method + `","params":{` + c.params + meta + `}}`
			hdr := map[string]string{"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": c.method}
			forwardedTo(t, s, c.method, func() (int, string) { c, _, b := post(t, s, tok, m, hdr); return c, b })
		}
		for _, n := range []string{
			`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7,` + meta + `}}`,
			`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t","progress":1,` + meta + `}}`,
		} {
			method := strings.SplitN(strings.SplitN(n, `"method":"`, 2)[1], `"`, 2)[0]
			hdr := map[string]string{"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": method}
			forwardedTo(t, s, method, func() (int, string) { c, _, b := post(t, s, tok, n, hdr); return c, b })
		}
	})
}
