package telemetry

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

const (
	incomingTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	incomingSpan  = "00f067aa0ba902b7"
	traceparent   = "00-" + incomingTrace + "-" + incomingSpan + "-01"
)

func recorder() (*sdktrace.TracerProvider, *tracetest.InMemoryExporter) {
	exp := tracetest.NewInMemoryExporter()
	return sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)), exp
}

func TestExtractTraceparent(t *testing.T) {
	tests := []struct {
		name        string
		traceparent string
		tracestate  string
		child       bool
	}{
		{"valid", traceparent, "", true},
		{"valid with state", traceparent, "vendor=abc", true},
		{"absent", "", "", false},
		{"malformed", "00-nothex-00f067aa0ba902b7-01", "", false},
		{"zero trace id", "00-00000000000000000000000000000000-" + incomingSpan + "-01", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp, exp := recorder()
			ctx := ExtractTraceparent(t.Context(), tt.traceparent, tt.tracestate)
			_, span := tp.Tracer(TracerName).Start(ctx, "stream")
			span.End()
			spans := exp.GetSpans()
			if len(spans) != 1 {
				t.Fatalf("got %d spans", len(spans))
			}
			s := spans[0]
			isChild := s.SpanContext.TraceID().String() == incomingTrace &&
				s.Parent.SpanID().String() == incomingSpan && s.Parent.IsRemote()
			if isChild != tt.child {
				t.Errorf("child of incoming = %v, want %v (trace %s, parent %s)", isChild, tt.child, s.SpanContext.TraceID(), s.Parent.SpanID())
			}
			if !tt.child && s.Parent.IsValid() {
				t.Errorf("span has parent %s, want a root span", s.Parent.SpanID())
			}
			if tt.tracestate != "" && s.SpanContext.TraceState().String() != tt.tracestate {
				t.Errorf("tracestate %q, want %q", s.SpanContext.TraceState().String(), tt.tracestate)
			}
		})
	}
}

func TestStartStreamSpan(t *testing.T) {
	tp, exp := recorder()
	// The gRPC server span otelgrpc would have put in ctx, on another trace.
	rpcCtx, rpcSpan := tp.Tracer("grpc").Start(t.Context(), "Process")
	ctx, span := StartStreamSpan(rpcCtx, tp, traceparent, "", AttrMCPMethodName.String("tools/call"))
	_, child := tp.Tracer(TracerName).Start(ctx, SpanAuthz)
	child.End()
	span.SetName(StreamSpanName("tools/call", "aws___call_aws"))
	span.End()
	rpcSpan.End()

	byName := map[string]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		byName[s.Name] = s
	}
	stream, ok := byName["tools/call aws___call_aws"]
	if !ok {
		t.Fatalf("no stream span among %v", byName)
	}
	if stream.SpanContext.TraceID().String() != incomingTrace || stream.Parent.SpanID().String() != incomingSpan {
		t.Errorf("stream span is not the request's child: trace %s parent %s", stream.SpanContext.TraceID(), stream.Parent.SpanID())
	}
	if stream.SpanKind != trace.SpanKindServer {
		t.Errorf("kind %v, want server", stream.SpanKind)
	}
	if len(stream.Links) != 1 || stream.Links[0].SpanContext.SpanID() != rpcSpan.SpanContext().SpanID() {
		t.Errorf("stream span links %v, want the gRPC span", stream.Links)
	}
	if !hasAttr(stream.Attributes, AttrMCPMethodName.String("tools/call")) {
		t.Errorf("attributes %v lack mcp.method.name", stream.Attributes)
	}
	authz := byName[SpanAuthz]
	if authz.Parent.SpanID() != stream.SpanContext.SpanID() {
		t.Errorf("authz span parent %s, want the stream span %s", authz.Parent.SpanID(), stream.SpanContext.SpanID())
	}

	// Without a traceparent the stream span is the gRPC span's child.
	_, span = StartStreamSpan(rpcCtx, tp, "", "")
	span.End()
	last := exp.GetSpans()[len(exp.GetSpans())-1]
	if last.Parent.SpanID() != rpcSpan.SpanContext().SpanID() || len(last.Links) != 0 {
		t.Errorf("without traceparent: parent %s links %v", last.Parent.SpanID(), last.Links)
	}
}

func hasAttr(attrs []attribute.KeyValue, want attribute.KeyValue) bool {
	for _, a := range attrs {
		if a == want {
			return true
		}
	}
	return false
}

func TestStreamSpanName(t *testing.T) {
	tests := []struct{ method, target, want string }{
		{"", "", "mcpguard.request"},
		{"tools/list", "", "tools/list"},
		{"tools/call", "aws___call_aws", "tools/call aws___call_aws"},
	}
	for _, tt := range tests {
		if got := StreamSpanName(tt.method, tt.target); got != tt.want {
			t.Errorf("StreamSpanName(%q, %q) = %q, want %q", tt.method, tt.target, got, tt.want)
		}
	}
}

func TestNewTracerProviderDisabled(t *testing.T) {
	tp, shutdown, err := NewTracerProvider(t.Context(), TracingOptions{Endpoint: "unused:1"})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.Tracer(TracerName).Start(t.Context(), "x")
	if span.IsRecording() || span.SpanContext().IsValid() {
		t.Error("a disabled provider records spans")
	}
	if err := shutdown(t.Context()); err != nil {
		t.Error(err)
	}
}

func TestNewTracerProviderRejects(t *testing.T) {
	tests := []struct {
		name string
		o    TracingOptions
	}{
		{"unknown exporter", TracingOptions{Enabled: true, Exporter: "zipkin"}},
		{"ratio above one", TracingOptions{Enabled: true, SampleRatio: 1.5}},
		{"negative ratio", TracingOptions{Enabled: true, SampleRatio: -0.1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := NewTracerProvider(t.Context(), tt.o); err == nil {
				t.Fatal("NewTracerProvider succeeded")
			}
		})
	}
}

// otlpHTTP is a collector receiving OTLP/HTTP protobuf exports.
type otlpHTTP struct {
	mu       sync.Mutex
	requests []*coltracepb.ExportTraceServiceRequest
	paths    []string
}

func (c *otlpHTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := &coltracepb.ExportTraceServiceRequest{}
	if err := proto.Unmarshal(body, req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.requests = append(c.requests, req)
	c.paths = append(c.paths, r.URL.Path)
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	b, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	_, _ = w.Write(b)
}

// exported returns the service.name and span names of every export.
func exported(reqs []*coltracepb.ExportTraceServiceRequest) (services, names []string) {
	for _, req := range reqs {
		for _, rs := range req.ResourceSpans {
			for _, a := range rs.Resource.Attributes {
				if a.Key == "service.name" {
					services = append(services, a.Value.GetStringValue())
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					names = append(names, s.Name)
				}
			}
		}
	}
	return services, names
}

func emitAndShutdown(t *testing.T, o TracingOptions) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	tp, shutdown, err := NewTracerProvider(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	pctx := ExtractTraceparent(ctx, traceparent, "")
	_, span := tp.Tracer(TracerName).Start(pctx, "tools/call aws___call_aws")
	span.End()
	if err := shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

func TestOTLPHTTPExport(t *testing.T) {
	tests := []struct {
		name     string
		endpoint func(url string) string
		env      map[string]string
		service  string
		path     string
	}{
		{"configured url", func(u string) string { return u + "/custom/traces" }, nil, "mcpguard-test", "/custom/traces"},
		{"configured host:port", func(u string) string { return u[len("http://"):] }, nil, "mcpguard-test", "/v1/traces"},
		{"environment", func(string) string { return "" }, map[string]string{"OTEL_SERVICE_NAME": "from-env"}, "from-env", "/v1/traces"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			col := &otlpHTTP{}
			srv := httptest.NewServer(col)
			defer srv.Close()
			endpoint := tt.endpoint(srv.URL)
			if endpoint == "" {
				t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			emitAndShutdown(t, TracingOptions{Enabled: true, Exporter: ExporterOTLPHTTP, Endpoint: endpoint, Insecure: true, SampleRatio: 1, ServiceName: "mcpguard-test"})
			col.mu.Lock()
			defer col.mu.Unlock()
			services, names := exported(col.requests)
			if len(names) != 1 || names[0] != "tools/call aws___call_aws" {
				t.Fatalf("exported spans %v", names)
			}
			if services[0] != tt.service {
				t.Errorf("service.name %q, want %q", services[0], tt.service)
			}
			if col.paths[0] != tt.path {
				t.Errorf("path %q, want %q", col.paths[0], tt.path)
			}
		})
	}
}

// otlpGRPC is a collector receiving OTLP/gRPC exports.
type otlpGRPC struct {
	coltracepb.UnimplementedTraceServiceServer
	mu       sync.Mutex
	requests []*coltracepb.ExportTraceServiceRequest
}

func (c *otlpGRPC) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	c.requests = append(c.requests, req)
	c.mu.Unlock()
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func serveGRPC(t *testing.T, opts ...grpc.ServerOption) (*otlpGRPC, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	col := &otlpGRPC{}
	srv := grpc.NewServer(opts...)
	coltracepb.RegisterTraceServiceServer(srv, col)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return col, lis.Addr().String()
}

func TestOTLPGRPCExport(t *testing.T) {
	col, addr := serveGRPC(t)
	emitAndShutdown(t, TracingOptions{Enabled: true, Exporter: ExporterOTLPGRPC, Endpoint: addr, Insecure: true, SampleRatio: 1})
	col.mu.Lock()
	defer col.mu.Unlock()
	services, names := exported(col.requests)
	if len(names) != 1 || names[0] != "tools/call aws___call_aws" || services[0] != "mcpguard" {
		t.Fatalf("exported services %v spans %v", services, names)
	}
	span := col.requests[0].ResourceSpans[0].ScopeSpans[0].Spans[0]
	if got := trace.TraceID(span.TraceId).String(); got != incomingTrace {
		t.Errorf("exported trace id %s, want the incoming %s", got, incomingTrace)
	}
}

func TestSampling(t *testing.T) {
	col := &otlpHTTP{}
	srv := httptest.NewServer(col)
	defer srv.Close()
	ctx := t.Context()
	tp, shutdown, err := NewTracerProvider(ctx, TracingOptions{Enabled: true, Exporter: ExporterOTLPHTTP, Endpoint: srv.URL, SampleRatio: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = shutdown(ctx) }()
	_, root := tp.Tracer(TracerName).Start(ctx, "root")
	_, child := tp.Tracer(TracerName).Start(ExtractTraceparent(ctx, traceparent, ""), "child")
	_, unsampled := tp.Tracer(TracerName).Start(ExtractTraceparent(ctx, "00-"+incomingTrace+"-"+incomingSpan+"-00", ""), "unsampled")
	if root.SpanContext().IsSampled() {
		t.Error("ratio 0 sampled a new root trace")
	}
	if !child.SpanContext().IsSampled() {
		t.Error("a sampled parent was not followed")
	}
	if unsampled.SpanContext().IsSampled() {
		t.Error("an unsampled parent was not followed")
	}
}

func TestGRPCServerOption(t *testing.T) {
	tp, exp := recorder()
	_, addr := serveGRPC(t, GRPCServerOption(tp))
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := metadata.AppendToOutgoingContext(t.Context(), "traceparent", traceparent)
	if _, err := coltracepb.NewTraceServiceClient(conn).Export(ctx, &coltracepb.ExportTraceServiceRequest{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(exp.GetSpans()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	spans := exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("got %d server spans", len(spans))
	}
	s := spans[0]
	if s.SpanKind != trace.SpanKindServer || s.SpanContext.TraceID().String() != incomingTrace || s.Parent.SpanID().String() != incomingSpan {
		t.Errorf("server span %q kind %v trace %s parent %s", s.Name, s.SpanKind, s.SpanContext.TraceID(), s.Parent.SpanID())
	}
}

func BenchmarkStartStreamSpanDisabled(b *testing.B) {
	tp, _, _ := NewTracerProvider(b.Context(), TracingOptions{})
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		_, span := StartStreamSpan(ctx, tp, traceparent, "")
		span.End()
	}
}

// TestStartStreamSpanDisabled: with tracing off, the stream span is what
// the no-op tracer's Start gives (the client's span context, or the one
// ctx holds), never recording, and a recording span in ctx is not handed
// out to be ended by the stream.
func TestStartStreamSpanDisabled(t *testing.T) {
	off := noop.NewTracerProvider()
	rec, _ := recorder()
	recCtx, recSpan := rec.Tracer("grpc").Start(t.Context(), "Process")
	defer recSpan.End()
	remote := ExtractTraceparent(t.Context(), "00-"+incomingTrace+"-"+"1111111111111111"+"-01", "")
	tests := []struct {
		name                    string
		ctx                     context.Context
		traceparent, tracestate string
	}{
		{"no trace context", t.Context(), "", ""},
		{"client traceparent", t.Context(), traceparent, ""},
		{"client traceparent and state", t.Context(), traceparent, "vendor=abc"},
		{"malformed traceparent", t.Context(), "00-nothex-" + incomingSpan + "-01", ""},
		{"remote span in ctx", remote, "", ""},
		{"client traceparent over a remote span", remote, traceparent, ""},
		{"recording span in ctx", recCtx, "", ""},
		{"client traceparent over a recording span", recCtx, traceparent, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, span := StartStreamSpan(tt.ctx, off, tt.traceparent, tt.tracestate)
			_, want := off.Tracer(TracerName).Start(ExtractTraceparent(tt.ctx, tt.traceparent, tt.tracestate), "x")
			if span.IsRecording() {
				t.Error("the stream span records with tracing off")
			}
			if !span.SpanContext().Equal(want.SpanContext()) {
				t.Errorf("span context %v, the no-op tracer gives %v", span.SpanContext(), want.SpanContext())
			}
			if got := trace.SpanContextFromContext(ctx); !got.Equal(want.SpanContext()) {
				t.Errorf("ctx carries %v, want %v", got, want.SpanContext())
			}
		})
	}
	if !recSpan.IsRecording() {
		t.Error("the gRPC span was ended")
	}
}
