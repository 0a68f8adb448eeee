package e2e

import (
	"bytes"
	"net/http"
	"net/url"
	"testing"

	"github.com/mcpguard/mcpguard/test/envoysim"
	"github.com/mcpguard/mcpguard/test/stack"
)

// envoyRequest is one request run through the ext_proc filter directly, for
// tests that need the exact request Envoy would forward.
type envoyRequest struct {
	token string
	body  string
}

func (r *envoyRequest) process(t *testing.T, s *stack.Stack) *envoysim.Request {
	t.Helper()
	out := s.Filter.ProcessRequest(t.Context(), &envoysim.Request{
		Method: http.MethodPost, Scheme: "http", Authority: "gateway.local", Path: s.Config.Upstream.Path,
		Headers: []envoysim.Header{
			{Key: "content-type", Value: "application/json"},
			{Key: "accept", Value: "application/json, text/event-stream"},
			{Key: "authorization", Value: "Bearer " + r.token},
		},
		Body: []byte(r.body),
	})
	t.Cleanup(out.Close)
	if out.Immediate != nil {
		t.Fatalf("request answered by the gateway: %d %s", out.Immediate.Status, out.Immediate.Body)
	}
	return out.Request
}

// sendUpstream sends a forwarded request to the AWS MCP Server as Envoy's
// router would after host_rewrite_literal, with body in place of the signed
// body.
func sendUpstream(t *testing.T, s *stack.Stack, fwd *envoysim.Request, body []byte) *http.Response {
	t.Helper()
	u, _ := url.Parse(s.AWS.URL())
	req, err := http.NewRequest(fwd.Method, u.Scheme+"://"+u.Host+fwd.Path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range fwd.Headers {
		req.Header.Add(h.Key, h.Value)
	}
	req.Host = s.Config.Upstream.Host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}
