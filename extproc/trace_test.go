package extproc

import (
	"context"
	"slices"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/mcpguard/mcpguard/telemetry"
)

// TestRequestSpans: the request span continues the trace of the incoming
// traceparent and has one child span per pipeline stage.
func TestRequestSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	h := newHarness(t, func(o *Options) { o.Tracer = tp })
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	out := h.filter.ProcessRequest(context.Background(), post(toolCall,
		"authorization", "Bearer alice",
		"traceparent", "00-"+traceID+"-00f067aa0ba902b7-01"))
	if out.Immediate != nil {
		t.Fatalf("answered locally: %d", out.Immediate.Status)
	}
	out.Close()
	// The request span ends when the server sees the stream close, which
	// happens after Close returns: wait for it.
	var spans []sdktrace.ReadOnlySpan
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if spans = rec.Ended(); len(spans) >= 5 {
			break
		}
	}
	var names []string
	var root sdktrace.ReadOnlySpan
	for _, s := range spans {
		names = append(names, s.Name())
		if s.SpanContext().TraceID().String() != traceID {
			t.Errorf("span %s is in trace %s, want %s", s.Name(), s.SpanContext().TraceID(), traceID)
		}
		if s.Name() == "tools/call aws___call_aws" {
			root = s
		}
	}
	if root == nil {
		t.Fatalf("no request span named after the MCP method and tool; spans: %v", names)
	}
	if root.Parent().SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("request span parent = %s, want the incoming span", root.Parent().SpanID())
	}
	for _, stage := range []string{telemetry.SpanAuthn, telemetry.SpanAuthz, telemetry.SpanCredentials, telemetry.SpanSign} {
		i := slices.IndexFunc(spans, func(s sdktrace.ReadOnlySpan) bool { return s.Name() == stage })
		if i < 0 {
			t.Errorf("no %s span; spans: %v", stage, names)
			continue
		}
		if spans[i].Parent().SpanID() != root.SpanContext().SpanID() {
			t.Errorf("%s is not a child of the request span", stage)
		}
	}
	var tool string
	for _, a := range root.Attributes() {
		if a.Key == telemetry.AttrGenAIToolName {
			tool = a.Value.AsString()
		}
	}
	if tool != "aws___call_aws" {
		t.Errorf("gen_ai.tool.name = %q", tool)
	}
}
