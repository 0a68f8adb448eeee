package extproc

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mcpguard/mcpguard/test/envoysim"
)

// TestEnvoyEdgesAnsweredAsTheClientShouldSeeThem drives the two requests
// Envoy delivers in a shape of its own: a chunked body larger than its
// buffer (Envoy's 413 reaches mcpguard as response_headers while it waits
// for the body) and a body followed by trailers (the body arrives without
// end_of_stream). Both get a JSON-RPC error with a clear status, never a
// 500, and neither reaches the credential source.
func TestEnvoyEdgesAnsweredAsTheClientShouldSeeThem(t *testing.T) {
	tests := []struct {
		name   string
		req    func() *envoysim.Request
		status int
		code   int
		msg    string
	}{
		{"chunked body over Envoy's buffer", func() *envoysim.Request {
			// No content-length: only Envoy's buffer limit can stop it.
			return post(`{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"`+strings.Repeat("x", 256)+`"}}`, "authorization", "Bearer alice")
		}, 413, -32600, "buffer limit"},
		{"body with trailers", func() *envoysim.Request {
			r := post(toolCall, "authorization", "Bearer alice")
			r.Trailers = []envoysim.Header{{Key: "x-checksum", Value: "abc"}}
			return r
		}, 400, -32600, "trailers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			f, err := envoysim.New(h.conn, envoysim.Config{Filter: envoyFilter(), BufferLimit: 128,
				Attributes: map[string]any{"source.address": "192.0.2.10:5555"}})
			if err != nil {
				t.Fatal(err)
			}
			out := f.ProcessRequest(t.Context(), tt.req())
			defer out.Close()
			lr := out.Immediate
			if lr == nil {
				t.Fatalf("request forwarded: %+v", out.Request)
			}
			if lr.Status != tt.status {
				t.Fatalf("status %d (%s), want %d", lr.Status, lr.Body, tt.status)
			}
			var body struct {
				Error struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
					Data    struct {
						RequestID string `json:"request_id"`
					} `json:"data"`
				} `json:"error"`
			}
			if err := json.Unmarshal(lr.Body, &body); err != nil {
				t.Fatalf("body %q is not a JSON-RPC error: %v", lr.Body, err)
			}
			if ct, _ := envoysim.Get(lr.Headers, "content-type"); ct != "application/json" {
				t.Errorf("content-type %q", ct)
			}
			if body.Error.Code != tt.code {
				t.Errorf("code %d, want %d", body.Error.Code, tt.code)
			}
			if !strings.Contains(body.Error.Message, tt.msg) || body.Error.Data.RequestID != "req-42" {
				t.Errorf("error %+v, want a message naming %q and the request id", body.Error, tt.msg)
			}
			if n := h.creds.calls.Load(); n != 0 {
				t.Errorf("credential source called %d times", n)
			}
		})
	}
}

// TestTrailersWithoutBodyCarryNoCredential covers the POST whose headers
// are followed by trailers and no data: Envoy then sends no body message
// and forwards the request as the headers answer left it. That answer
// already removed the client's token and AWS headers, and the upstream's
// answer is replaced by a 400 JSON-RPC error naming the trailers.
func TestTrailersWithoutBodyCarryNoCredential(t *testing.T) {
	h := newHarness(t, nil)
	r := post("", "authorization", "Bearer alice", "x-amz-security-token", "client-chosen", "mcp-protocol-version", "2025-11-25")
	r.Trailers = []envoysim.Header{{Key: "x-checksum", Value: "abc"}}
	out := h.filter.ProcessRequest(t.Context(), r)
	defer out.Close()
	if out.Immediate != nil {
		t.Fatalf("refused at the request: %d %s", out.Immediate.Status, out.Immediate.Body)
	}
	for _, name := range []string{"authorization", "x-amz-security-token"} {
		if v, ok := envoysim.Get(out.Request.Headers, name); ok {
			t.Errorf("forwarded request still carries %s: %q", name, v)
		}
	}
	if v, _ := envoysim.Get(out.Request.Headers, "mcp-protocol-version"); v != "2025-11-25" {
		t.Errorf("mcp-protocol-version %q, want it kept", v)
	}
	ro := out.ProcessResponse(t.Context(), &envoysim.Response{Status: 403, Headers: []envoysim.Header{{Key: "content-type", Value: "application/json"}}})
	if ro.Immediate == nil {
		t.Fatalf("upstream answer %d passed through", ro.Status)
	}
	if ro.Immediate.Status != 400 {
		t.Fatalf("status %d (%s), want 400", ro.Immediate.Status, ro.Immediate.Body)
	}
	var body struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(ro.Immediate.Body, &body); err != nil {
		t.Fatalf("body %q is not a JSON-RPC error: %v", ro.Immediate.Body, err)
	}
	if body.Error.Code != -32600 || !strings.Contains(body.Error.Message, "trailers") {
		t.Errorf("error %+v, want -32600 naming the trailers", body.Error)
	}
	if n := h.creds.calls.Load(); n != 0 {
		t.Errorf("credential source called %d times", n)
	}
}
