package telemetry

import (
	"context"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
)

// TracerName is the instrumentation scope of every span mcpguard creates.
const TracerName = "github.com/mcpguard/mcpguard"

// Exporters accepted by TracingOptions.Exporter.
const (
	ExporterOTLPGRPC = "otlp_grpc"
	ExporterOTLPHTTP = "otlp_http"
)

// Span names of the ext_proc pipeline's stages. The per-stream span is
// named by StreamSpanName.
const (
	SpanAuthn       = "mcpguard.authn"
	SpanAuthz       = "mcpguard.authz"
	SpanCredentials = "mcpguard.credentials" //nolint:gosec // a span name, not a credential
	// SpanSTSAssume is the AssumeRoleWithWebIdentity call inside
	// SpanCredentials, present only when the cache could not answer.
	SpanSTSAssume = "sts.AssumeRoleWithWebIdentity"
	SpanSign      = "mcpguard.sign"
)

// Attribute keys. The mcp.*, gen_ai.* and jsonrpc.* keys follow the
// OpenTelemetry semantic conventions for MCP; the others use the general
// conventions (http.*, error.type, aws.*) or the mcpguard.* namespace where
// no convention exists.
const (
	AttrMCPMethodName      = attribute.Key("mcp.method.name")
	AttrMCPSessionID       = attribute.Key("mcp.session.id")
	AttrMCPProtocolVersion = attribute.Key("mcp.protocol.version")
	AttrMCPResourceURI     = attribute.Key("mcp.resource.uri")
	AttrGenAIToolName      = attribute.Key("gen_ai.tool.name")
	AttrGenAIPromptName    = attribute.Key("gen_ai.prompt.name")
	AttrGenAIOperationName = attribute.Key("gen_ai.operation.name")
	AttrJSONRPCRequestID   = attribute.Key("jsonrpc.request.id")
	AttrJSONRPCVersion     = attribute.Key("jsonrpc.protocol.version")
	AttrRPCResponseStatus  = attribute.Key("rpc.response.status_code")
	AttrErrorType          = attribute.Key("error.type")
	AttrHTTPMethod         = attribute.Key("http.request.method")
	AttrHTTPStatusCode     = attribute.Key("http.response.status_code")
	AttrUserID             = attribute.Key("user.id")
	AttrAWSRequestID       = attribute.Key("aws.request_id")
	AttrCloudRegion        = attribute.Key("cloud.region")

	AttrRequestID      = attribute.Key("mcpguard.request_id")
	AttrBatchSize      = attribute.Key("mcpguard.batch.size")
	AttrAuthzDecision  = attribute.Key("mcpguard.authz.decision")
	AttrAuthzPolicies  = attribute.Key("mcpguard.authz.policies")
	AttrRoleARN        = attribute.Key("mcpguard.aws.role_arn")
	AttrAccessKeyID    = attribute.Key("mcpguard.aws.access_key_id")
	AttrCredentialsHit = attribute.Key("mcpguard.credentials.cached")
	AttrSigningService = attribute.Key("mcpguard.sigv4.service")
	AttrAuditID        = attribute.Key("mcpguard.audit_id")
	AttrUpstream       = attribute.Key("mcpguard.upstream")
	AttrDenyReason     = attribute.Key("mcpguard.reason")
	AttrSourceAddress  = attribute.Key("client.address")
	AttrUserAgent      = attribute.Key("user_agent.original")
	AttrServerAddress  = attribute.Key("server.address")
)

// TracingOptions configures span export. It mirrors telemetry_config.tracing;
// empty fields fall back to the OTLP exporters' own defaults and the
// standard OTEL_* environment variables.
type TracingOptions struct {
	// Enabled false gives a no-op provider: spans cost nothing and nothing
	// is exported.
	Enabled bool
	// Exporter is ExporterOTLPGRPC (or empty) or ExporterOTLPHTTP.
	Exporter string
	// Endpoint is host:port, or a URL (http:// or https://, with a path
	// for HTTP). Empty leaves it to OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT
	// or the exporter's default (localhost:4317 / localhost:4318).
	Endpoint string
	// Insecure disables TLS to the collector.
	Insecure bool
	// SampleRatio is the share of new root traces sampled; a sampled or
	// unsampled parent is always followed. Ignored when OTEL_TRACES_SAMPLER
	// is set.
	SampleRatio float64
	// ServiceName is the service.name resource attribute; OTEL_SERVICE_NAME
	// and OTEL_RESOURCE_ATTRIBUTES override it. Empty means "mcpguard".
	ServiceName string
}

// NewTracerProvider builds the tracer provider the gateway passes to its
// gRPC server and pipeline. The returned shutdown flushes pending spans and
// stops the exporter; call it once on exit. A disabled configuration
// returns a no-op provider and a shutdown that does nothing. No global
// OpenTelemetry state is set.
func NewTracerProvider(ctx context.Context, o TracingOptions) (trace.TracerProvider, func(context.Context) error, error) {
	if !o.Enabled {
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	}
	if o.SampleRatio < 0 || o.SampleRatio > 1 {
		return nil, nil, fmt.Errorf("tracing sample ratio must be between 0 and 1, got %g", o.SampleRatio)
	}
	exp, err := newExporter(ctx, o)
	if err != nil {
		return nil, nil, err
	}
	name := o.ServiceName
	if name == "" {
		name = "mcpguard"
	}
	// Later detectors win on conflicting keys, so the environment overrides
	// the configured service name, as the OTEL_* specification expects.
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(attribute.String("service.name", name)),
		resource.WithFromEnv(),
	)
	if err != nil {
		_ = exp.Shutdown(ctx)
		return nil, nil, fmt.Errorf("build tracing resource: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
	}
	if os.Getenv("OTEL_TRACES_SAMPLER") == "" {
		opts = append(opts, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(o.SampleRatio))))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	return tp, tp.Shutdown, nil
}

// newExporter creates the OTLP span exporter. It does not connect: the
// exporters dial lazily and retry, so a collector that is down delays
// spans, never the gateway.
func newExporter(ctx context.Context, o TracingOptions) (sdktrace.SpanExporter, error) {
	isURL := strings.Contains(o.Endpoint, "://")
	switch o.Exporter {
	case "", ExporterOTLPGRPC:
		var opts []otlptracegrpc.Option
		switch {
		case isURL:
			opts = append(opts, otlptracegrpc.WithEndpointURL(o.Endpoint))
		case o.Endpoint != "":
			opts = append(opts, otlptracegrpc.WithEndpoint(o.Endpoint))
		}
		if o.Insecure {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
		exp, err := otlptracegrpc.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("create OTLP gRPC exporter: %w", err)
		}
		return exp, nil
	case ExporterOTLPHTTP:
		var opts []otlptracehttp.Option
		switch {
		case isURL:
			opts = append(opts, otlptracehttp.WithEndpointURL(o.Endpoint))
		case o.Endpoint != "":
			opts = append(opts, otlptracehttp.WithEndpoint(o.Endpoint))
		}
		if o.Insecure {
			opts = append(opts, otlptracehttp.WithInsecure())
		}
		exp, err := otlptracehttp.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("create OTLP HTTP exporter: %w", err)
		}
		return exp, nil
	}
	return nil, fmt.Errorf("tracing exporter must be %s or %s, got %q", ExporterOTLPGRPC, ExporterOTLPHTTP, o.Exporter)
}

// Propagator is the W3C Trace Context propagator mcpguard reads
// traceparent/tracestate with, on gRPC metadata and on the HTTP request
// headers Envoy forwards.
func Propagator() propagation.TextMapPropagator { return propagation.TraceContext{} }

// GRPCServerOption instruments the gRPC server with a span per RPC
// (otelgrpc), parented on the trace context Envoy sends in gRPC metadata.
// Health checks are not traced. Metrics stay with the Prometheus registry,
// so otelgrpc gets a no-op meter provider.
func GRPCServerOption(tp trace.TracerProvider) grpc.ServerOption {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return grpc.StatsHandler(otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(tp),
		otelgrpc.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelgrpc.WithPropagators(Propagator()),
		otelgrpc.WithFilter(filters.Not(filters.HealthCheck())),
	))
}

// ExtractTraceparent returns ctx carrying the remote span context of the
// HTTP request's traceparent and tracestate headers, so a span started
// from it is the request's child. An absent or invalid traceparent leaves
// ctx as it was (a span started from it parents on whatever ctx holds).
func ExtractTraceparent(ctx context.Context, traceparent, tracestate string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return Propagator().Extract(ctx, &traceCarrier{traceparent: traceparent, tracestate: tracestate})
}

// traceCarrier is the two trace context headers as a read-only
// propagation.TextMapCarrier: what a MapCarrier holds, without the map.
type traceCarrier struct{ traceparent, tracestate string }

func (c *traceCarrier) Get(key string) string {
	switch key {
	case "traceparent":
		return c.traceparent
	case "tracestate":
		return c.tracestate
	}
	return ""
}

// Set does nothing: the carrier is only extracted from.
func (c *traceCarrier) Set(string, string) {}

func (c *traceCarrier) Keys() []string {
	if c.tracestate == "" {
		return []string{"traceparent"}
	}
	return []string{"traceparent", "tracestate"}
}

// StartStreamSpan starts the span of one ext_proc stream: a server span
// that is the child of the HTTP request's traceparent (when valid), linked
// to the gRPC span already in ctx so both traces lead to each other. The
// caller adds attributes as it learns them and ends the span when the
// stream ends.
func StartStreamSpan(ctx context.Context, tp trace.TracerProvider, traceparent, tracestate string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	parent := ExtractTraceparent(ctx, traceparent, tracestate)
	if _, off := tp.(noop.TracerProvider); off {
		// Tracing is off: the no-op tracer's Start would return the span
		// parent holds (the client's remote span context, for the logs'
		// trace id), made non-recording. One that records already is
		// left to it, so that the stream never ends another's span.
		if sp := trace.SpanFromContext(parent); !sp.IsRecording() {
			return parent, sp
		}
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...)}
	rpc := trace.SpanContextFromContext(ctx)
	if remote := trace.SpanContextFromContext(parent); rpc.IsValid() && remote.IsValid() && remote.TraceID() != rpc.TraceID() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: rpc}))
	}
	return tp.Tracer(TracerName).Start(parent, StreamSpanName("", ""), opts...)
}

// StreamSpanName names a request span after the MCP conventions:
// "{mcp.method.name} {target}" with the tool or prompt name as target, or
// the method alone; "mcpguard.request" before the method is known.
func StreamSpanName(method, target string) string {
	switch {
	case method == "":
		return "mcpguard.request"
	case target != "":
		return method + " " + target
	}
	return method
}
