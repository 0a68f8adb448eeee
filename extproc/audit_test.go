package extproc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcpguard/mcpguard/audit"
	"github.com/mcpguard/mcpguard/test/envoysim"
)

// TestRecordIsWrittenBeforeForwarding: when the upstream receives a
// request, its record is already in the trail; the mcp_response record
// that completes it names the request's seq.
func TestRecordIsWrittenBeforeForwarding(t *testing.T) {
	rec := &memRecorder{}
	h := newHarness(t, func(o *Options) { o.Audit = rec })
	out := h.filter.ProcessRequest(t.Context(), post(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"aws___call_aws","arguments":{"cli_command":"aws s3 ls"}}}`, "authorization", "Bearer alice"))
	if out.Immediate != nil {
		t.Fatalf("refused: %d %s", out.Immediate.Status, out.Immediate.Body)
	}
	// The request is now on its way upstream: its record must exist.
	evs := rec.snapshot()
	if len(evs) != 1 || evs[0].Type != audit.TypeMCPToolCall || evs[0].Outcome != audit.OutcomeForwarded ||
		evs[0].MCP == nil || evs[0].MCP.Tool != "aws___call_aws" || evs[0].AWS == nil || evs[0].AWS.AccessKeyID == "" {
		t.Fatalf("records before forwarding: %+v", evs)
	}
	ro := out.ProcessResponse(t.Context(), &envoysim.Response{Status: 200,
		Headers: []envoysim.Header{{Key: "content-type", Value: "application/json"}, {Key: "x-amzn-requestid", Value: "up-1"}},
		Body:    strings.NewReader(`{"jsonrpc":"2.0","id":1,"result":{}}`)})
	_, _ = io.ReadAll(ro.Body)
	out.Close()
	resp := rec.waitType(t, audit.TypeMCPResponse)
	if resp.RequestSeq != 1 || resp.Outcome != audit.OutcomeSuccess || resp.HTTP.Status != 200 || resp.AWS == nil ||
		resp.AWS.UpstreamRequestID != "up-1" || resp.RequestID != "req-42" {
		t.Errorf("mcp_response = %+v", resp)
	}
	if n := len(rec.snapshot()); n != 2 {
		t.Errorf("%d records, want the request and its response", n)
	}
}

// fullDisk accepts writes up to limit bytes and fails larger ones with
// ENOSPC, as a nearly full disk does.
type fullDisk struct {
	mu    sync.Mutex
	limit int
	buf   bytes.Buffer
}

func (w *fullDisk) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(p) > w.limit {
		return 0, syscall.ENOSPC
	}
	return w.buf.Write(p)
}

// TestRequestRefusedWhenItsRecordFails: on a nearly full disk small
// records fit and large ones do not. A request whose own record cannot be
// written is refused with 503 even right after another request's small
// write succeeded; under on_failure continue it goes through.
func TestRequestRefusedWhenItsRecordFails(t *testing.T) {
	big := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"aws___call_aws","arguments":{"cli_command":"aws s3 ls ` + strings.Repeat("x", 3000) + `"}}}`
	small := `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	for _, onFailure := range []string{"deny", "continue"} {
		t.Run(onFailure, func(t *testing.T) {
			disk := &fullDisk{limit: 2500}
			l, err := audit.New(audit.Options{Enabled: true, Writer: disk, IncludeArguments: true, OnFailure: onFailure})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			h := newHarness(t, func(o *Options) { o.Audit = l })
			for i, body := range []string{small, big, small, big} {
				out := h.filter.ProcessRequest(t.Context(), post(body, "authorization", "Bearer alice"))
				refused := out.Immediate != nil
				wantRefused := body == big && onFailure == "deny"
				if refused != wantRefused {
					t.Fatalf("request %d: refused %v, want %v (%+v)", i, refused, wantRefused, out.Immediate)
				}
				if refused {
					var e struct {
						ID    json.RawMessage `json:"id"`
						Error struct {
							Code    int    `json:"code"`
							Message string `json:"message"`
						} `json:"error"`
					}
					if out.Immediate.Status != 503 || json.Unmarshal(out.Immediate.Body, &e) != nil || e.Error.Code != -32000 ||
						!strings.Contains(e.Error.Message, "audit trail unavailable") || string(e.ID) != "2" {
						t.Fatalf("request %d: %d %s, want 503 with a JSON-RPC error", i, out.Immediate.Status, out.Immediate.Body)
					}
				}
				out.Close()
			}
		})
	}
}

// writeLog records each write(2) the audit logger makes.
type writeLog struct {
	mu     sync.Mutex
	writes []string
}

func (w *writeLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

func (w *writeLog) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.writes)
}

// deferredSpy passes records to an audit.Logger and signals each deferred
// one.
type deferredSpy struct {
	*audit.Logger
	deferred chan audit.Type
}

func (d deferredSpy) AppendDeferred(ctx context.Context, e *audit.Event) error {
	err := d.Logger.AppendDeferred(ctx, e)
	d.deferred <- e.Type
	return err
}

// TestResponseRecordRidesNextWrite: an mcp_response is handed to the
// recorder as a deferred record, so it is written with the next request's
// record in one write(2), in order, and the chain verifies; the request's
// own record is never deferred.
func TestResponseRecordRidesNextWrite(t *testing.T) {
	w := &writeLog{}
	l, err := audit.New(audit.Options{Enabled: true, Writer: w, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	spy := deferredSpy{Logger: l, deferred: make(chan audit.Type, 4)}
	h := newHarness(t, func(o *Options) { o.Audit = spy })
	exchange := func(id int) {
		t.Helper()
		out := h.filter.ProcessRequest(t.Context(), post(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"aws___call_aws","arguments":{"cli_command":"aws s3 ls"}}}`, id), "authorization", "Bearer alice"))
		if out.Immediate != nil {
			t.Fatalf("refused: %d %s", out.Immediate.Status, out.Immediate.Body)
		}
		ro := out.ProcessResponse(t.Context(), &envoysim.Response{Status: 200,
			Headers: []envoysim.Header{{Key: "content-type", Value: "application/json"}},
			Body:    strings.NewReader(`{"jsonrpc":"2.0","id":1,"result":{}}`)})
		_, _ = io.ReadAll(ro.Body)
		out.Close()
		select {
		case typ := <-spy.deferred:
			if typ != audit.TypeMCPResponse {
				t.Fatalf("deferred a %s record", typ)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no mcp_response was deferred")
		}
	}
	exchange(1)
	if ws := w.all(); len(ws) != 1 || !strings.Contains(ws[0], `"outcome":"forwarded"`) {
		t.Fatalf("writes after one exchange: %q", ws)
	}
	exchange(2)
	ws := w.all()
	if len(ws) != 2 || strings.Count(ws[1], "\n") != 2 ||
		strings.Index(ws[1], `"type":"mcp_response"`) > strings.Index(ws[1], `"outcome":"forwarded"`) {
		t.Fatalf("the second write should hold the first mcp_response, then the second request: %q", ws)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	ws = w.all()
	if len(ws) != 3 || !strings.Contains(ws[2], `"type":"mcp_response"`) {
		t.Fatalf("Close should write the last mcp_response: %q", ws)
	}
	rep, err := audit.Verify(strings.NewReader(strings.Join(ws, "")))
	if err != nil || rep.Records != 4 || rep.BrokenAt != 0 {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
}
