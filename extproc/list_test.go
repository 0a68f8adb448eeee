package extproc

import (
	"context"
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpguard/mcpguard/audit"
	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/authz"
	"github.com/mcpguard/mcpguard/mcp"
	"github.com/mcpguard/mcpguard/test/envoysim"
)

// Visible hides tools whose name starts with "hidden".
func (f *fakeAuthz) Visible(context.Context, *authn.Identity, authz.VisibilityRequest) (authz.VisibleFunc, error) {
	return func(it mcp.ListItem) bool { return !strings.HasPrefix(it.Name, "hidden") }, nil
}

// fakePins treats the tool named "changed" as changed since it was pinned.
type fakePins struct{ recorded []mcp.ToolPin }

func (p *fakePins) Refresh() error                             { return nil }
func (p *fakePins) Digest(raw json.RawMessage) (string, error) { return mcp.ToolDigest(raw) }
func (p *fakePins) Blocked(name string) bool                   { return name == "changed" }
func (p *fakePins) Record(pins ...mcp.ToolPin) error {
	p.recorded = append(p.recorded, pins...)
	return nil
}
func (p *fakePins) Check(name, _ string) mcp.PinStatus {
	switch name {
	case "changed":
		return mcp.PinChanged
	case "new":
		return mcp.PinNew
	}
	return mcp.PinSame
}

const toolsList = `{"jsonrpc":"2.0","id":5,"method":"tools/list"}`

func listResponse(names ...string) string {
	var tools []string
	for _, n := range names {
		tools = append(tools, `{"name":"`+n+`","inputSchema":{"type":"object"}}`)
	}
	return `{"jsonrpc":"2.0","id":5,"result":{"tools":[` + strings.Join(tools, ",") + `],"nextCursor":"c2"}}`
}

func TestListResponsesAreFiltered(t *testing.T) {
	pins := &fakePins{}
	h := newHarness(t, func(o *Options) { o.Pins, o.PinMode = pins, mcp.PinEnforce })
	out := h.filter.ProcessRequest(context.Background(), post(toolsList, "authorization", "Bearer alice", "accept-encoding", "gzip"))
	defer out.Close()
	if out.Immediate != nil {
		t.Fatalf("answered locally: %d %s", out.Immediate.Status, out.Immediate.Body)
	}
	if _, ok := envoysim.Get(out.Request.Headers, "accept-encoding"); ok {
		t.Error("accept-encoding forwarded on a list request")
	}
	body := listResponse("same", "hidden_admin", "changed", "new")
	ro := out.ProcessResponse(context.Background(), &envoysim.Response{
		Status:  200,
		Headers: []envoysim.Header{{Key: "content-type", Value: "application/json"}, {Key: "content-length", Value: strconv.Itoa(len(body))}},
		Body:    strings.NewReader(body),
	})
	if ro.Immediate != nil {
		t.Fatalf("response replaced by a local reply: %+v", ro.Immediate)
	}
	got, _ := io.ReadAll(ro.Body)
	var res struct {
		Result struct {
			Tools []struct {
				Name string `json:"name"`
			} `json:"tools"`
			NextCursor string `json:"nextCursor"`
		} `json:"result"`
	}
	if err := json.Unmarshal(got, &res); err != nil {
		t.Fatalf("filtered body %q: %v", got, err)
	}
	var names []string
	for _, tl := range res.Result.Tools {
		names = append(names, tl.Name)
	}
	if !slices.Equal(names, []string{"same", "new"}) || res.Result.NextCursor != "c2" {
		t.Errorf("tools = %v cursor %q, want [same new] c2", names, res.Result.NextCursor)
	}
	if cl, _ := envoysim.Get(ro.Headers, "content-length"); cl != strconv.Itoa(len(got)) {
		t.Errorf("content-length %s for %d bytes", cl, len(got))
	}
	if len(pins.recorded) != 2 {
		t.Errorf("recorded pins %v, want the changed and the new tool", pins.recorded)
	}
	if !slices.Contains(envoysim.Kinds(out.Log()), "send:response_body") {
		t.Error("no response body round trip for a list")
	}
}

func TestChangedToolCallsAreDenied(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Pins, o.PinMode = &fakePins{}, mcp.PinEnforce })
	out := h.filter.ProcessRequest(context.Background(), post(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"changed"}}`, "authorization", "Bearer alice"))
	defer out.Close()
	if out.Immediate == nil || out.Immediate.Status != 403 || !strings.Contains(string(out.Immediate.Body), "awaits") {
		t.Fatalf("want 403 awaiting approval, got %+v", out.Immediate)
	}
}

func TestListInABatchIsRefused(t *testing.T) {
	h := newHarness(t, nil)
	out := h.filter.ProcessRequest(context.Background(), post(`[{"jsonrpc":"2.0","id":1,"method":"ping"},`+toolsList+`]`, "authorization", "Bearer alice"))
	defer out.Close()
	if out.Immediate == nil || out.Immediate.Status != 400 {
		t.Fatalf("want 400, got %+v", out.Immediate)
	}
}

func TestCompressedListIsReplaced(t *testing.T) {
	h := newHarness(t, nil)
	out := h.filter.ProcessRequest(context.Background(), post(toolsList, "authorization", "Bearer alice"))
	defer out.Close()
	body := "\x1f\x8b compressed bytes hidden_admin"
	ro := out.ProcessResponse(context.Background(), &envoysim.Response{
		Status:  200,
		Headers: []envoysim.Header{{Key: "content-type", Value: "application/json"}, {Key: "content-encoding", Value: "gzip"}},
		Body:    strings.NewReader(body),
	})
	got, _ := io.ReadAll(ro.Body)
	if strings.Contains(string(got), "hidden_admin") || !strings.Contains(string(got), `"error"`) {
		t.Fatalf("body = %q, want a JSON-RPC error", got)
	}
	if enc, ok := envoysim.Get(ro.Headers, "content-encoding"); ok {
		t.Errorf("content-encoding %q kept on the replacement", enc)
	}
}

// TestIgnoredModeOverrideIsReported: with allow_mode_override off Envoy never
// sends a list body; mcpguard cannot filter it and records the failure.
func TestIgnoredModeOverrideIsReported(t *testing.T) {
	rec := &memRecorder{}
	h := newHarness(t, func(o *Options) { o.Audit = rec })
	f := envoyFilter()
	f.AllowModeOverride = false
	filter, err := envoysim.New(h.conn, envoysim.Config{Filter: f})
	if err != nil {
		t.Fatal(err)
	}
	out := filter.ProcessRequest(context.Background(), post(toolsList, "authorization", "Bearer alice"))
	body := listResponse("hidden_admin")
	ro := out.ProcessResponse(context.Background(), &envoysim.Response{Status: 200,
		Headers: []envoysim.Header{{Key: "content-type", Value: "application/json"}}, Body: strings.NewReader(body)})
	io.ReadAll(ro.Body)
	out.Close()
	ev := rec.wait(t)
	if ev.Outcome != "error" || ev.Error == nil || !strings.Contains(ev.Error.Message, "allow_mode_override") {
		t.Fatalf("audit = %+v, want an error naming allow_mode_override", ev)
	}
}

// memRecorder keeps audit events in memory.
type memRecorder struct {
	mu     sync.Mutex
	events []*audit.Event
}

func (r *memRecorder) Record(_ context.Context, e *audit.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return nil
}

func (r *memRecorder) FailClosed() bool { return true }
func (r *memRecorder) Healthy() bool    { return true }

// wait returns the first event, which the server records when the stream
// ends (after the client side has closed it).
func (r *memRecorder) wait(t *testing.T) *audit.Event {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		r.mu.Lock()
		n := len(r.events)
		r.mu.Unlock()
		if n > 0 {
			return r.events[0]
		}
	}
	t.Fatal("no audit event recorded")
	return nil
}

// TestAliasedListIDsAreReplaced: a list response whose id only resembles
// the request's (a client that matches ids numerically would take it for
// the answer) replaces the whole body with a JSON-RPC error carrying the
// request's own id; the hidden tool never reaches the client.
func TestAliasedListIDsAreReplaced(t *testing.T) {
	cases := []struct {
		name, reqID, contentType, body string
	}{
		{"string for number", `7`, "application/json", `{"jsonrpc":"2.0","id":"7","result":{"tools":[{"name":"hidden_admin"}]}}`},
		{"number for string", `"7"`, "application/json", `{"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"hidden_admin"}]}}`},
		{"fraction", `7`, "application/json", `{"jsonrpc":"2.0","id":7.0,"result":{"tools":[{"name":"hidden_admin"}]}}`},
		{"escaped string", `"7"`, "application/json", `{"jsonrpc":"2.0","id":"\u0037","result":{"tools":[{"name":"hidden_admin"}]}}`},
		{"second answer in a batch", `7`, "application/json", `[{"jsonrpc":"2.0","id":7,"result":{"tools":[]}},{"jsonrpc":"2.0","id":"7","result":{"tools":[{"name":"hidden_admin"}]}}]`},
		{"second event of a stream", `7`, "text/event-stream", "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"tools\":[]}}\n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"7\",\"result\":{\"tools\":[{\"name\":\"hidden_admin\"}]}}\n\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, nil)
			out := h.filter.ProcessRequest(context.Background(), post(`{"jsonrpc":"2.0","id":`+c.reqID+`,"method":"tools/list"}`, "authorization", "Bearer alice"))
			defer out.Close()
			if out.Immediate != nil {
				t.Fatalf("answered locally: %d %s", out.Immediate.Status, out.Immediate.Body)
			}
			ro := out.ProcessResponse(context.Background(), &envoysim.Response{
				Status:  200,
				Headers: []envoysim.Header{{Key: "content-type", Value: c.contentType}, {Key: "content-length", Value: strconv.Itoa(len(c.body))}},
				Body:    strings.NewReader(c.body),
			})
			got, _ := io.ReadAll(ro.Body)
			if strings.Contains(string(got), "hidden_admin") || !strings.Contains(string(got), `"error"`) || !strings.Contains(string(got), `"id":`+c.reqID) {
				t.Fatalf("body = %q, want a JSON-RPC error with id %s", got, c.reqID)
			}
		})
	}
}
