package extproc

import (
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/proto"

	"github.com/mcpguard/mcpguard/audit"
	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/authz"
	"github.com/mcpguard/mcpguard/envoy"
	"github.com/mcpguard/mcpguard/mcp"
	"github.com/mcpguard/mcpguard/test/envoysim"
	"github.com/mcpguard/mcpguard/toolpin"
)

// Visible hides tools whose name starts with "hidden".
func (f *fakeAuthz) Visible(context.Context, *authn.Identity, authz.VisibilityRequest) (authz.VisibleFunc, error) {
	return func(it mcp.ListItem) bool { return !strings.HasPrefix(it.Name, "hidden") }, nil
}

// testUpstream is the pin key of the harness's upstream.
const testUpstream = "aws-mcp.us-east-1.api.aws"

// pinGuard returns an enforce-mode guard over a store in which, for the
// harness's upstream, "same" and "changed" are pinned (the latter to a
// definition the upstream no longer sends).
func pinGuard(t *testing.T, mode toolpin.Mode) (*toolpin.Guard, *toolpin.Store) {
	t.Helper()
	store, err := toolpin.OpenStore(filepath.Join(t.TempDir(), "pins.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var seen []toolpin.Seen
	for _, def := range []string{toolDef("same"), `{"name":"changed","inputSchema":{"type":"object"},"description":"old"}`} {
		c, err := toolpin.Canonical(json.RawMessage(def))
		if err != nil {
			t.Fatal(err)
		}
		d, _ := toolpin.Digest(c)
		var n struct{ Name string }
		if err := json.Unmarshal(c, &n); err != nil {
			t.Fatal(err)
		}
		seen = append(seen, toolpin.Seen{Tool: n.Name, Digest: d, Definition: c})
	}
	if err := store.Record(testUpstream, seen...); err != nil {
		t.Fatal(err)
	}
	g, err := toolpin.NewGuard(mode, store)
	if err != nil {
		t.Fatal(err)
	}
	return g, store
}

const toolsList = `{"jsonrpc":"2.0","id":5,"method":"tools/list"}`

func toolDef(name string) string { return `{"name":"` + name + `","inputSchema":{"type":"object"}}` }

func listResponse(names ...string) string {
	var tools []string
	for _, n := range names {
		tools = append(tools, toolDef(n))
	}
	return `{"jsonrpc":"2.0","id":5,"result":{"tools":[` + strings.Join(tools, ",") + `],"nextCursor":"c2"}}`
}

func TestListResponsesAreFiltered(t *testing.T) {
	pins, store := pinGuard(t, toolpin.Enforce)
	h := newHarness(t, func(o *Options) { o.Pins = pins })
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
	if e, ok := store.Lookup(testUpstream, "new"); !ok || e.Pending.Digest != "" {
		t.Errorf("new tool not pinned: %+v", e)
	}
	if e, _ := store.Lookup(testUpstream, "changed"); e.Pending.Digest == "" || !strings.Contains(string(e.Pending.Definition), `"inputSchema"`) {
		t.Errorf("changed tool has no pending definition: %+v", e)
	}
	if !slices.Contains(envoysim.Kinds(out.Log()), "send:response_body") {
		t.Error("no response body round trip for a list")
	}
}

func TestPinnedCalls(t *testing.T) {
	tests := []struct {
		name   string
		mode   toolpin.Mode
		tool   string
		status int
		msg    string
	}{
		{"changed, enforce", toolpin.Enforce, "changed", 403, "awaits"},
		{"never listed, enforce", toolpin.Enforce, "unknown", 403, "never listed"},
		{"pinned, enforce", toolpin.Enforce, "same", 0, ""},
		{"changed, warn", toolpin.Warn, "changed", 0, ""},
		{"never listed, warn", toolpin.Warn, "unknown", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pins, store := pinGuard(t, tt.mode)
			// Make "changed" pending: the upstream showed a new definition.
			c, _ := toolpin.Canonical(json.RawMessage(toolDef("changed")))
			d, _ := toolpin.Digest(c)
			if err := store.Record(testUpstream, toolpin.Seen{Tool: "changed", Digest: d, Definition: c}); err != nil {
				t.Fatal(err)
			}
			h := newHarness(t, func(o *Options) { o.Pins = pins })
			out := h.filter.ProcessRequest(t.Context(), post(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"`+tt.tool+`"}}`, "authorization", "Bearer alice"))
			defer out.Close()
			if tt.status == 0 {
				if out.Immediate != nil {
					t.Fatalf("refused: %d %s", out.Immediate.Status, out.Immediate.Body)
				}
				return
			}
			if out.Immediate == nil || out.Immediate.Status != tt.status || !strings.Contains(string(out.Immediate.Body), tt.msg) ||
				!strings.Contains(string(out.Immediate.Body), `"code":-32003`) {
				t.Fatalf("want %d %q, got %+v", tt.status, tt.msg, out.Immediate)
			}
		})
	}
}

// TestPinsArePerUpstream: a tool pinned for one upstream is unknown to
// another, even under the same name.
func TestPinsArePerUpstream(t *testing.T) {
	pins, _ := pinGuard(t, toolpin.Enforce)
	h := newHarness(t, func(o *Options) {
		o.Pins = pins
		o.Upstream = Upstream{Host: "other.example.com", Region: "us-east-1", Service: "aws-mcp"}
	})
	out := h.filter.ProcessRequest(t.Context(), post(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"same"}}`, "authorization", "Bearer alice"))
	defer out.Close()
	if out.Immediate == nil || out.Immediate.Status != 403 || !strings.Contains(string(out.Immediate.Body), "never listed") {
		t.Fatalf("a pin of another upstream was honoured: %+v", out.Immediate)
	}
}

// TestListPinFailures: a list that names a tool twice, or whose tool
// changed a member other than the description, fails closed or loses it.
func TestListPinFailures(t *testing.T) {
	pinned := `{"name":"same","inputSchema":{"type":"object"}}`
	tests := []struct {
		name  string
		mode  toolpin.Mode
		tools []string
		want  []string // nil: the whole body is replaced by an error
	}{
		{"duplicate names, enforce", toolpin.Enforce, []string{pinned, pinned}, nil},
		{"duplicate names with different definitions", toolpin.Warn, []string{pinned, `{"name":"same","title":"x","inputSchema":{"type":"object"}}`}, nil},
		{"duplicate names, off", toolpin.Off, []string{pinned, pinned}, nil},
		{"title changed", toolpin.Enforce, []string{`{"name":"same","title":"Same","inputSchema":{"type":"object"}}`}, []string{}},
		{"outputSchema added", toolpin.Enforce, []string{`{"name":"same","inputSchema":{"type":"object"},"outputSchema":{"type":"object"}}`}, []string{}},
		{"_meta changed", toolpin.Enforce, []string{`{"name":"same","inputSchema":{"type":"object"},"_meta":{"x":1}}`}, []string{}},
		{"title changed, warn keeps it", toolpin.Warn, []string{`{"name":"same","title":"Same","inputSchema":{"type":"object"}}`}, []string{"same"}},
		{"unchanged, keys reordered", toolpin.Enforce, []string{`{"inputSchema":{"type":"object"},"name":"same"}`}, []string{"same"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pins *toolpin.Guard
			if tt.mode == toolpin.Off {
				pins, _ = toolpin.NewGuard(toolpin.Off, nil)
			} else {
				pins, _ = pinGuard(t, tt.mode)
			}
			h := newHarness(t, func(o *Options) { o.Pins = pins })
			out := h.filter.ProcessRequest(t.Context(), post(toolsList, "authorization", "Bearer alice"))
			defer out.Close()
			body := `{"jsonrpc":"2.0","id":5,"result":{"tools":[` + strings.Join(tt.tools, ",") + `]}}`
			ro := out.ProcessResponse(t.Context(), &envoysim.Response{Status: 200,
				Headers: []envoysim.Header{{Key: "content-type", Value: "application/json"}}, Body: strings.NewReader(body)})
			got, _ := io.ReadAll(ro.Body)
			var res struct {
				Result *struct {
					Tools []struct{ Name string } `json:"tools"`
				} `json:"result"`
				Error *struct{ Code int } `json:"error"`
			}
			if err := json.Unmarshal(got, &res); err != nil {
				t.Fatalf("body %q: %v", got, err)
			}
			if tt.want == nil {
				if res.Error == nil || res.Result != nil {
					t.Fatalf("body %s, want a JSON-RPC error", got)
				}
				return
			}
			if res.Result == nil {
				t.Fatalf("body %s, want a result", got)
			}
			names := []string{}
			for _, tl := range res.Result.Tools {
				names = append(names, tl.Name)
			}
			if !slices.Equal(names, tt.want) {
				t.Errorf("tools %v, want %v", names, tt.want)
			}
		})
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
	_, _ = io.ReadAll(ro.Body)
	out.Close()
	ev := rec.waitType(t, audit.TypeMCPResponse)
	if ev.Outcome != "error" || ev.Error == nil || !strings.Contains(ev.Error.Message, "allow_mode_override") {
		t.Fatalf("audit = %+v, want an error naming allow_mode_override", ev)
	}
}

// memRecorder keeps audit events in memory and signals each one.
type memRecorder struct {
	mu     sync.Mutex
	events []*audit.Event
	seq    uint64
	added  chan struct{}
}

func (r *memRecorder) Append(_ context.Context, e *audit.Event) (uint64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	r.seq++
	if r.added == nil {
		r.added = make(chan struct{}, 1)
	}
	select {
	case r.added <- struct{}{}:
	default:
	}
	return r.seq, nil
}

func (r *memRecorder) FailClosed() bool { return true }

// snapshot returns the events recorded so far.
func (r *memRecorder) snapshot() []*audit.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// waitType returns the first event of type typ, waiting for the server to
// record it (it records the exchange's last event when the stream ends).
func (r *memRecorder) waitType(t *testing.T, typ audit.Type) *audit.Event {
	t.Helper()
	r.mu.Lock()
	if r.added == nil {
		r.added = make(chan struct{}, 1)
	}
	added := r.added
	r.mu.Unlock()
	timeout := time.After(10 * time.Second)
	for {
		for _, e := range r.snapshot() {
			if e.Type == typ {
				return e
			}
		}
		select {
		case <-added:
		case <-timeout:
			t.Fatalf("no %s audit event recorded; got %d events", typ, len(r.snapshot()))
		}
	}
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

// The modes mcpguard asks for are the ones the validator requires in a
// narrowed allowed_override_modes: a change to either side fails here.
func TestModeOverridesMatchValidator(t *testing.T) {
	want := envoy.OverrideModes()
	if len(want) != 2 {
		t.Fatalf("envoy.OverrideModes has %d modes, want the list and the stream override", len(want))
	}
	resp := &extprocv3.ProcessingResponse{}
	x := &exchange{}
	x.era.stream = &streamExchange{ctype: "text/event-stream"}
	x.streamModeOverride(resp)
	for i, got := range []*extprocfilterv3.ProcessingMode{listModeOverride(), resp.GetModeOverride()} {
		if !proto.Equal(got, want[i]) {
			t.Errorf("override %d: mcpguard sends %v, the validator expects %v", i, got, want[i])
		}
	}
}
