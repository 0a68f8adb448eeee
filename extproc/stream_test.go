package extproc

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/mcpguard/mcpguard/audit"
	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/test/envoysim"
)

// sseChunks yields one part per Read, as an upstream flushing events.
type sseChunks struct{ parts []string }

func (c *sseChunks) Read(p []byte) (int, error) {
	if len(c.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.parts[0])
	c.parts = c.parts[1:]
	return n, nil
}

func streamGET(t *testing.T, filter *envoysim.Filter, keys *SessionKeys, parts ...string) string {
	t.Helper()
	sealed := keys.seal("up-1", ownerOf(&authn.Identity{Subject: "alice", Issuer: "https://idp.test"}, "aws-mcp.us-east-1.api.aws"))
	out := filter.ProcessRequest(context.Background(), &envoysim.Request{
		Method: "GET", Scheme: "https", Authority: "gw", Path: "/mcp",
		Headers: []envoysim.Header{{Key: "authorization", Value: "Bearer alice"}, {Key: "mcp-session-id", Value: sealed}, {Key: "last-event-id", Value: "4"}},
	})
	if out.Immediate != nil {
		t.Fatalf("answered locally: %d %s", out.Immediate.Status, out.Immediate.Body)
	}
	ro := out.ProcessResponse(context.Background(), &envoysim.Response{Status: 200,
		Headers: []envoysim.Header{{Key: "content-type", Value: "text/event-stream"}}, Body: &sseChunks{parts: parts}})
	if ro.Immediate != nil {
		t.Fatalf("response answered locally: %d", ro.Immediate.Status)
	}
	got, _ := io.ReadAll(ro.Body)
	out.Close()
	return string(got)
}

func TestResumedStreamListIsFiltered(t *testing.T) {
	keys := RandomSessionKeys()
	h := newHarness(t, func(o *Options) { o.Protocol.Sessions = keys })
	ev := "id: 9\ndata: " + strings.TrimSpace(listResponse("hidden_admin")) + "\n\n"
	got := streamGET(t, h.filter, keys, ev[:20], ev[20:], "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{}}\n\n")
	if strings.Contains(got, "hidden_admin") || !strings.Contains(got, "id: 9") || !strings.Contains(got, "notifications/message") {
		t.Fatalf("stream = %q", got)
	}
}

func TestIgnoredStreamOverrideIsReported(t *testing.T) {
	keys := RandomSessionKeys()
	rec := &memRecorder{}
	h := newHarness(t, func(o *Options) { o.Audit = rec; o.Protocol.Sessions = keys })
	f := envoyFilter()
	f.AllowModeOverride = false
	filter, err := envoysim.New(h.conn, envoysim.Config{Filter: f})
	if err != nil {
		t.Fatal(err)
	}
	streamGET(t, filter, keys, "data: "+strings.TrimSpace(listResponse("hidden_admin"))+"\n\n")
	ev := rec.waitType(t, audit.TypeMCPResponse)
	if ev.Outcome != "error" || ev.Error == nil || !strings.Contains(ev.Error.Message, "allow_mode_override") {
		t.Fatalf("audit = %+v, want an error naming allow_mode_override", ev)
	}
}
