package extproc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/audit"
	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/authz"
	"github.com/mcpguard/mcpguard/credential"
	"github.com/mcpguard/mcpguard/mcp"
	"github.com/mcpguard/mcpguard/sigv4"
	"github.com/mcpguard/mcpguard/telemetry"
)

// Authenticator verifies the caller of a request.
type Authenticator interface {
	Authenticate(ctx context.Context, in authn.Input) (*authn.Identity, error)
	// ResourceFor names the protected resource a request addresses
	// (RFC 9728), for the challenge and the metadata document.
	ResourceFor(scheme, authority, path string) string
	// ChallengeFor is the WWW-Authenticate value for a failed
	// authentication of a request to resource.
	ChallengeFor(err error, resource string) string
	// MetadataFor is the RFC 9728 protected resource document for
	// resource, so MCP clients can discover where to log in.
	MetadataFor(resource string) []byte
}

// Authorizer decides whether an authenticated identity may make a request.
type Authorizer interface {
	Authorize(ctx context.Context, id *authn.Identity, req authz.Request) (authz.Decision, error)
}

// CredentialSource returns the AWS role and temporary credentials to sign
// an authorized request with.
type CredentialSource interface {
	Credentials(ctx context.Context, id *authn.Identity) (*credential.Grant, error)
}

// ScopedCredentialSource is implemented by credential sources that narrow
// each request's session to what its decision allowed (scope_down:
// request): the credentials then can do exactly what Cedar permitted.
type ScopedCredentialSource interface {
	CredentialsFor(ctx context.Context, id *authn.Identity, dec *authz.Decision, body *mcp.Body) (*credential.Grant, error)
}

// TargetSelector is implemented by credential sources that sign for one
// of several AWS accounts per request (IAM Identity Center permission
// sets). SelectTarget runs before authorization with the route's gRPC
// initial metadata and the client's target headers (both keyed by
// x-mcpguard-aws-account and x-mcpguard-permission-set); it returns the
// context to pass to Credentials and the attributes Cedar policies see in
// context (aws_account, permission_set).
type TargetSelector interface {
	SelectTarget(ctx context.Context, id *authn.Identity, route, header map[string][]string) (context.Context, map[string]string, error)
}

// Names of the per-request target, in the route's gRPC initial metadata
// and in client headers.
const (
	targetAccountHeader       = "x-mcpguard-aws-account"
	targetPermissionSetHeader = "x-mcpguard-permission-set"
)

// routeTarget reads the target the route names in gRPC initial metadata.
func routeTarget(ctx context.Context) map[string][]string {
	var out map[string][]string
	for _, k := range [...]string{targetAccountHeader, targetPermissionSetHeader} {
		if v := metadata.ValueFromIncomingContext(ctx, k); len(v) > 0 {
			if out == nil {
				out = map[string][]string{}
			}
			out[k] = v
		}
	}
	return out
}

// Signer computes the SigV4 headers for the request that will leave Envoy.
// It never sees the client's headers: which of them to strip is decided
// here, in signingMutation, alone.
type Signer interface {
	Sign(ctx context.Context, r sigv4.Request) (sigv4.Result, error)
}

// Upstream is where Envoy's route sends authorized requests; mcpguard signs
// for this host, never for the incoming :authority.
type Upstream struct {
	Host    string
	Region  string
	Service string
	// Path, when set, replaces :path (mcpguard sets it and signs it), and
	// is the only client path accepted besides "/<name>" (see checkPath).
	Path string
	// Versions are the MCP revisions the upstream speaks; empty means
	// Options.Protocol.Versions.
	Versions []string

	name string // the upstreams key, "" for the single upstream
	// pinKey is pinUpstream's key, computed once in New.
	pinKey string
}

// Options are the stages and settings of a Server. Authn, Authz,
// Visibility, Creds and Signer are required, so a missing stage is a
// construction error rather than a surprise on some request; a gateway
// without policies passes DenyAll as both Authz and Visibility.
type Options struct {
	Authn Authenticator
	Authz Authorizer
	// Visibility decides which items of a list response the caller sees
	// (list.go). It is its own option, not a capability discovered on
	// Authz, so that what filters lists is visible where the Server is
	// built.
	Visibility Visibility
	Creds      CredentialSource
	Signer     Signer
	// Upstream is where requests go when no named upstreams are configured.
	Upstream Upstream
	// Upstreams are the named upstreams of a gateway that routes to several
	// signed MCP servers. Envoy names the route's upstream in the stream's
	// gRPC initial metadata (UpstreamMetadataKey); when Upstreams is not
	// empty a missing or unknown name is a configuration error (500).
	Upstreams map[string]Upstream
	// MaxBodyBytes bounds a request body; larger bodies get 413.
	MaxBodyBytes int
	// Pins checks tool definitions in lists and tool calls; nil turns
	// pinning off (and the duplicate-name check with it).
	Pins Pins
	// Audit receives the records of every request: a forwarded request's
	// record is written before it is forwarded (and refused when that
	// fails under on_failure deny), an mcp_response completes it; nil
	// records nothing.
	Audit Recorder
	// Tracer creates the per-request spans; nil disables tracing.
	Tracer  trace.TracerProvider
	Logger  *slog.Logger
	Metrics *telemetry.Metrics
	Now     func() time.Time
	// Protocol configures the checks of both MCP protocol eras (era.go).
	Protocol Protocol
	// Limiter applies the quotas after authorization; nil applies none.
	Limiter Limiter
}

// Server implements envoy.service.ext_proc.v3.ExternalProcessor.
type Server struct {
	extprocv3.UnimplementedExternalProcessorServer
	o     Options
	marks markStore // x-mcp-header marks learned from tools/list
	// noopTracer is set when Options.Tracer is OpenTelemetry's no-op
	// provider (tracing off): stages then start no child spans.
	noopTracer bool
}

// New checks the options and returns a Server.
func New(o Options) (*Server, error) {
	for _, st := range [...]struct {
		missing bool
		name    string
	}{
		{o.Authn == nil, "an authenticator (Authn)"},
		{o.Authz == nil, "an authorizer (Authz; DenyAll when no policy is configured)"},
		{o.Visibility == nil, "a list visibility decision (Visibility; DenyAll when no policy is configured)"},
		{o.Creds == nil, "a credential source (Creds)"},
		{o.Signer == nil, "a signer (Signer)"},
	} {
		if st.missing {
			return nil, fmt.Errorf("extproc: %s is required", st.name)
		}
	}
	if o.Upstream.Host == "" || o.Upstream.Region == "" || o.Upstream.Service == "" {
		return nil, errors.New("extproc: upstream host, region and service are required")
	}
	for name, u := range o.Upstreams {
		if u.Host == "" || u.Region == "" || u.Service == "" {
			return nil, fmt.Errorf("extproc: upstream %q needs host, region and service", name)
		}
	}
	o.Upstream.pinKey = pinKeyOf(o.Upstream)
	if o.Upstreams != nil {
		ups := make(map[string]Upstream, len(o.Upstreams))
		for name, u := range o.Upstreams {
			u.pinKey = pinKeyOf(u)
			ups[name] = u
		}
		o.Upstreams = ups
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Tracer == nil {
		o.Tracer = noop.NewTracerProvider()
	}
	if o.Protocol.Sessions == nil {
		o.Protocol.Sessions = RandomSessionKeys()
	}
	_, noopTracer := o.Tracer.(noop.TracerProvider)
	return &Server{o: o, noopTracer: noopTracer}, nil
}

// phase is where a stream is in the request flow.
type phase int

const (
	expectRequestHeaders phase = iota
	expectRequestBody
	requestDone // request authorized and signed (or answered)
)

// exchange is the per-stream state: one HTTP request.
type exchange struct {
	s    *Server
	ctx  context.Context
	log  *reqLogger
	logv reqLogger // what log points to: one allocation with the exchange
	// auditCtx is auditContext's, made on first use.
	auditCtx context.Context
	start    time.Time
	phase    phase

	hdr      requestHeaders
	buffered bool // Envoy said the request body mode is BUFFERED
	sourceIP string
	id       *authn.Identity
	upstream Upstream

	method    string // MCP method for metrics: known method, "batch", "other" or the HTTP verb form
	jsonrpcID json.RawMessage
	outcome   audit.Outcome // "" until known; never OutcomeForwarded
	status    int
	answered  bool // an ImmediateResponse was sent

	// What the audit record and the span report.
	span              trace.Span // nil until the request headers arrive
	body              *mcp.Body
	decision          *authz.Decision
	grant             *credential.Grant
	list              *listExchange // set for list requests, whose responses are filtered
	failure           error
	audit             auditState
	auditSeq          uint64 // seq of the request's record written before forwarding
	upstreamRequestID string
	era               eraState // protocol era checks and session binding
	quota             quotaState
}

func (x *exchange) tracer() trace.Tracer { return x.s.o.Tracer.Tracer(telemetry.TracerName) }

// Process serves one ext_proc stream, that is one HTTP request. It never
// returns nil before the request has been either answered or fully
// processed: a clean close would let Envoy forward the request untouched.
func (s *Server) Process(stream extprocv3.ExternalProcessor_ProcessServer) (err error) {
	s.o.Metrics.StreamOpened()
	defer s.o.Metrics.StreamClosed()
	x := &exchange{s: s, ctx: stream.Context(), logv: reqLogger{base: s.o.Logger}, start: s.o.Now()}
	x.log = &x.logv
	defer x.finish()

	for {
		req, rerr := stream.Recv()
		if rerr != nil {
			return x.recvEnded(rerr)
		}
		resp, perr := x.handleSafely(req)
		if perr != nil {
			return perr
		}
		if serr := stream.Send(resp); serr != nil {
			x.log.Warn("send ext_proc response", "error", serr)
			return status.Error(codes.Unavailable, "send ext_proc response")
		}
		if x.answered {
			// Envoy closes the stream after a local reply; nothing else
			// of this request will pass through it.
			return nil
		}
	}
}

// recvEnded decides how to end the stream when Envoy stops sending.
func (x *exchange) recvEnded(err error) error {
	if errors.Is(err, io.EOF) && x.phase == requestDone {
		return nil
	}
	if x.outcome == "" {
		x.outcome = audit.OutcomeError
	}
	if errors.Is(err, io.EOF) {
		x.log.Warn("ext_proc stream ended before the request was processed", "request_id", x.hdr.requestID)
		return status.Error(codes.Aborted, "stream ended before the request was processed")
	}
	if s, ok := status.FromError(err); ok && s.Code() == codes.Canceled || errors.Is(err, context.Canceled) {
		return status.Error(codes.Canceled, "stream cancelled")
	}
	x.log.Warn("receive ext_proc message", "error", err, "request_id", x.hdr.requestID)
	return status.Error(codes.Unavailable, "receive ext_proc message")
}

// handleSafely turns a panic in any stage into an explicit 500 for this
// request instead of a crashed server or a clean close.
func (x *exchange) handleSafely(req *extprocv3.ProcessingRequest) (resp *extprocv3.ProcessingResponse, err error) {
	defer func() {
		if r := recover(); r != nil {
			x.log.Error("panic while processing request", "panic", fmt.Sprint(r), "stack", string(debug.Stack()), "request_id", x.hdr.requestID)
			resp, err = x.fail(mcpguard.E(mcpguard.KindInternal, "internal error", nil)), nil
		}
	}()
	return x.handle(req)
}

func (x *exchange) handle(req *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
	if req.GetObservabilityMode() {
		// In observability mode Envoy does not wait for answers, so no
		// decision of ours could hold a request back.
		x.log.Error("ext_proc filter is in observability_mode; mcpguard cannot enforce anything, refusing the stream")
		return nil, status.Error(codes.FailedPrecondition, "observability_mode is not supported")
	}
	switch r := req.GetRequest().(type) {
	case *extprocv3.ProcessingRequest_RequestHeaders:
		if x.phase != expectRequestHeaders {
			return nil, x.outOfOrder("request_headers")
		}
		return x.requestHeaders(req, r.RequestHeaders), nil
	case *extprocv3.ProcessingRequest_RequestBody:
		if x.phase != expectRequestBody {
			return nil, x.outOfOrder("request_body")
		}
		return x.requestBody(r.RequestBody), nil
	case *extprocv3.ProcessingRequest_RequestTrailers:
		return continueRequestTrailers(), nil
	case *extprocv3.ProcessingRequest_ResponseHeaders:
		if x.phase == expectRequestBody && localReplyStatus(r.ResponseHeaders) == http.StatusRequestEntityTooLarge {
			// Envoy's buffer overflowed on a body without content-length
			// (chunked): its own 413 runs through the encoder path before
			// mcpguard saw the body. Answer it as mcpguard answers any
			// body too large; Envoy sends this reply straight to the client.
			return x.fail(mcpguard.Ef(mcpguard.KindTooLarge, "request body larger than the gateway's buffer limit")), nil
		}
		if x.phase == expectRequestBody {
			// The body phase never ran: Envoy forwarded a POST whose
			// headers were followed by trailers and no data (its
			// Filter::onTrailers sends no body then). The request left
			// without the client's token (credentialRemoval) and unsigned;
			// its answer is replaced by mcpguard's refusal.
			return x.fail(mcpguard.E(mcpguard.KindInvalidRequest, "HTTP trailers are not accepted on MCP requests: the request body never reached the gateway", nil)), nil
		}
		if x.phase != requestDone {
			return nil, x.outOfOrder("response_headers")
		}
		x.responseHeaders(r.ResponseHeaders)
		resp := x.responseHeadersAnswer()
		x.eraResponseHeaders(resp, r.ResponseHeaders.GetEndOfStream())
		return resp, nil
	case *extprocv3.ProcessingRequest_ResponseBody:
		if x.phase != requestDone {
			return nil, x.outOfOrder("response_body")
		}
		if x.list != nil {
			return x.filterListBody(r.ResponseBody), nil
		}
		if x.era.stream != nil {
			return x.filterStreamBody(r.ResponseBody), nil
		}
		return continueResponseBody(), nil
	case *extprocv3.ProcessingRequest_ResponseTrailers:
		return continueResponseTrailers(), nil
	default:
		return nil, status.Errorf(codes.InvalidArgument, "unsupported ext_proc message %T", r)
	}
}

func (x *exchange) outOfOrder(what string) error {
	x.outcome = audit.OutcomeError
	x.log.Error("ext_proc message out of order", "message", what, "phase", int(x.phase), "request_id", x.hdr.requestID)
	return status.Errorf(codes.FailedPrecondition, "unexpected %s message", what)
}

// requestHeaders authenticates the request. Bodyless requests (MCP GET
// stream, DELETE session) are authorized and signed here; the others wait
// for the buffered body.
func (x *exchange) requestHeaders(req *extprocv3.ProcessingRequest, h *extprocv3.HttpHeaders) *extprocv3.ProcessingResponse {
	start := x.s.o.Now()
	defer func() { x.s.o.Metrics.Phase("headers", x.s.o.Now().Sub(start)) }()

	x.hdr = parseRequestHeaders(h.GetHeaders())
	if x.hdr.requestID == "" {
		x.hdr.requestID = attributeString(req.GetAttributes(), "request.id")
	}
	x.sourceIP = sourceIP(req.GetAttributes())
	x.ctx, x.span = telemetry.StartStreamSpan(x.ctx, x.s.o.Tracer, x.hdr.traceparent, x.hdr.tracestate)
	x.log.setRequestID(x.hdr.requestID)
	if sc := x.span.SpanContext(); sc.IsValid() {
		x.log.setTraceID(sc.TraceID())
	}
	x.method = httpMethodLabel(x.hdr.method)
	x.phase = expectRequestBody

	if pc := req.GetProtocolConfig(); pc != nil && !h.GetEndOfStream() {
		if pc.GetRequestBodyMode() != extprocfilterv3.ProcessingMode_BUFFERED {
			return x.fail(mcpguard.E(mcpguard.KindInternal, "gateway misconfigured: request body mode must be BUFFERED", nil))
		}
		x.buffered = true
	}

	if doc := x.metadataDocument(); doc != nil {
		x.method = "oauth-protected-resource"
		x.outcome = audit.OutcomeSuccess
		x.status = 200
		x.answered = true
		x.phase = requestDone
		// A document derived from configuration other than the resource
		// identifier is not for shared caches.
		cache := "no-store"
		if rc, ok := x.s.o.Authn.(interface{ ResourceConfigured() bool }); ok && rc.ResourceConfigured() {
			cache = "max-age=3600"
		}
		return immediateResponse(200, []*corev3.HeaderValueOption{
			setHeader("content-type", "application/json"),
			setHeader("cache-control", cache),
		}, doc, "mcpguard_protected_resource_metadata")
	}

	up, err := x.s.upstreamFor(x.ctx)
	if err != nil {
		return x.fail(err)
	}
	x.upstream = up

	switch x.hdr.method {
	case http.MethodPost, http.MethodGet, http.MethodDelete:
	default:
		return x.fail(mcpguard.Ef(mcpguard.KindInvalidRequest, "HTTP method %s is not allowed for MCP", sanitize(x.hdr.method)))
	}
	if x.hdr.repeated != "" {
		return x.fail(mcpguard.Ef(repeatedKind(x.hdr.repeated), "the %s header must appear at most once", x.hdr.repeated))
	}
	if err := checkPath(x.hdr.path, x.upstream); err != nil {
		return x.fail(err)
	}
	if err := x.checkRequestHeaders(x.hdr.mirror); err != nil {
		return x.fail(err)
	}

	id, err := stage(x, telemetry.SpanAuthn, func(ctx context.Context) (*authn.Identity, error) {
		return x.authenticate(ctx, req)
	})
	if err != nil {
		return x.fail(err)
	}
	x.id = id
	x.log.setSub(id.Subject)
	if err := x.openSession(); err != nil {
		return x.fail(err)
	}

	if h.GetEndOfStream() {
		if x.hdr.method == http.MethodPost {
			return x.fail(mcpguard.E(mcpguard.KindInvalidRequest, "POST without a JSON-RPC body", nil))
		}
		mut, err := x.authorizeAndSign(nil, nil)
		if err != nil {
			return x.fail(err)
		}
		x.phase = requestDone
		return continueRequestHeaders(mut)
	}

	if x.hdr.method != http.MethodPost {
		return x.fail(mcpguard.Ef(mcpguard.KindInvalidRequest, "%s requests must not have a body", x.hdr.method))
	}
	if x.hdr.contentTypes > 1 || x.hdr.contentEncodings > 1 {
		return x.fail(mcpguard.E(mcpguard.KindUnsupportedMediaType, "repeated content-type or content-encoding headers are not accepted", nil))
	}
	if !isJSONContentType(x.hdr.contentType) {
		return x.fail(mcpguard.E(mcpguard.KindUnsupportedMediaType, "content-type must be application/json", nil))
	}
	if enc := strings.TrimSpace(x.hdr.contentEnc); enc != "" && !strings.EqualFold(enc, "identity") {
		// Authorizing compressed bytes would mean deciding on one thing
		// and forwarding another.
		return x.fail(mcpguard.E(mcpguard.KindUnsupportedMediaType, "compressed request bodies are not accepted", nil))
	}
	if cl := x.hdr.contentLength; cl != "" {
		n, err := strconv.ParseInt(cl, 10, 64)
		if err != nil || n < 0 {
			return x.fail(mcpguard.E(mcpguard.KindInvalidRequest, "invalid content-length", nil))
		}
		if n > int64(x.s.o.MaxBodyBytes) {
			return x.fail(mcpguard.Ef(mcpguard.KindTooLarge, "request body larger than %d bytes", x.s.o.MaxBodyBytes))
		}
	}
	return continueRequestHeaders(x.credentialRemoval())
}

// credentialRemoval removes, while the body is awaited, the client's
// credential and every AWS or mcpguard header it sent: the signing
// mutation sets what the upstream gets. Envoy skips the body phase of a
// POST whose headers are followed by trailers and no data, and then
// forwards the request as the headers answer left it; so that answer must
// not leave the client's token or signature material in it.
func (x *exchange) credentialRemoval() *extprocv3.HeaderMutation {
	var rm []string
	for _, n := range x.hdr.names {
		if n == "authorization" || removableHeader(n) {
			rm = append(rm, n)
		}
	}
	if rm == nil {
		return nil
	}
	return &extprocv3.HeaderMutation{RemoveHeaders: rm}
}

// metadataDocument returns the RFC 9728 document when this request asks
// for it; it is public, so it is answered before authentication.
func (x *exchange) metadataDocument() []byte {
	if x.hdr.method != http.MethodGet || !authn.IsMetadataPath(x.hdr.path) {
		return nil
	}
	return x.s.o.Authn.MetadataFor(x.resource())
}

// resource is the protected resource identifier this request addresses.
// Unless one is configured it is derived from the upstream mcpguard signs
// for (its host and configured path), never from the request's
// :authority, Host or path, which the client chooses.
func (x *exchange) resource() string {
	up := x.upstream
	if up.Host == "" {
		up = x.s.o.Upstream
	}
	path := up.Path
	if path == "" {
		path = defaultMCPPath
	}
	return x.s.o.Authn.ResourceFor("https", up.Host, path)
}

// defaultMCPPath is the MCP endpoint path of a derived resource identifier
// when the upstream has no configured path: the path the generated Envoy
// bootstrap routes.
const defaultMCPPath = "/mcp"

func (x *exchange) authenticate(ctx context.Context, req *extprocv3.ProcessingRequest) (*authn.Identity, error) {
	in := authn.Input{Authorization: x.hdr.authorization, AuthorizationCount: x.hdr.authorizations}
	if md := req.GetMetadataContext().GetFilterMetadata()[jwtAuthnNamespace]; md != nil {
		in.Metadata = md.AsMap()
	}
	return x.s.o.Authn.Authenticate(ctx, in)
}

// jwtAuthnNamespace is the dynamic metadata namespace Envoy's jwt_authn
// filter writes verified payloads to.
const jwtAuthnNamespace = "envoy.filters.http.jwt_authn"

// requestBody parses, authorizes and signs a buffered POST body.
func (x *exchange) requestBody(b *extprocv3.HttpBody) *extprocv3.ProcessingResponse {
	start := x.s.o.Now()
	defer func() { x.s.o.Metrics.Phase("body", x.s.o.Now().Sub(start)) }()

	if !b.GetEndOfStream() {
		if x.buffered {
			// BUFFERED sends the whole body without end_of_stream only
			// when trailers follow it. Trailers are neither signed nor
			// authorized, so a request carrying them is refused.
			return x.fail(mcpguard.E(mcpguard.KindInvalidRequest, "HTTP trailers are not accepted on MCP requests", nil))
		}
		// Only BUFFERED delivers the whole body in one message, and only
		// then do header mutations in the body response still apply.
		return x.fail(mcpguard.E(mcpguard.KindInternal, "gateway misconfigured: request body mode must be BUFFERED", nil))
	}
	body := b.GetBody()
	if len(body) > x.s.o.MaxBodyBytes {
		return x.fail(mcpguard.Ef(mcpguard.KindTooLarge, "request body larger than %d bytes", x.s.o.MaxBodyBytes))
	}
	parsed, err := mcp.Parse(body, mcp.Limits{MaxBytes: x.s.o.MaxBodyBytes})
	if err != nil {
		return x.fail(err)
	}
	x.body = parsed
	x.noteMessages(parsed)
	if err := x.checkBody(parsed); err != nil {
		return x.fail(err)
	}
	if err := x.noteList(parsed); err != nil {
		return x.fail(err)
	}
	mut, err := x.authorizeAndSign(parsed, body)
	if err != nil {
		return x.fail(err)
	}
	x.phase = requestDone
	return continueRequestBody(mut)
}

// noteMessages records the method and id used for metrics and error bodies.
func (x *exchange) noteMessages(b *mcp.Body) {
	if b.Batch {
		x.method = "batch"
		return
	}
	m := b.Messages[0]
	x.jsonrpcID = m.ID
	switch {
	case m.Type == mcp.TypeResponse:
		x.method = "response"
	case mcp.KnownMethod(m.Method):
		x.method = m.Method
	default:
		x.method = "other"
	}
}

// authorizeAndSign runs the policy decision, obtains credentials for the
// identity's role and returns the header mutation that signs the request.
func (x *exchange) authorizeAndSign(body *mcp.Body, raw []byte) (*extprocv3.HeaderMutation, error) {
	var attrs map[string]string
	if ts, ok := x.s.o.Creds.(TargetSelector); ok {
		ctx, a, err := ts.SelectTarget(x.ctx, x.id, routeTarget(x.ctx), x.hdr.target)
		if err != nil {
			return nil, err
		}
		x.ctx, attrs = ctx, a
	}
	dec, err := stage(x, telemetry.SpanAuthz, func(ctx context.Context) (authz.Decision, error) {
		return x.s.o.Authz.Authorize(ctx, x.id, authz.Request{
			Attributes:      attrs,
			HTTPMethod:      x.hdr.method,
			Body:            body,
			SourceIP:        x.sourceIP,
			RequestID:       x.hdr.requestID,
			SessionID:       x.hdr.sessionID,
			Time:            x.s.o.Now(),
			ServerHost:      x.upstream.Host,
			ProtocolVersion: x.era.version,
			Region:          x.upstream.Region,
		})
	})
	if err != nil {
		return nil, err
	}
	x.decision = &dec
	x.s.o.Metrics.AuthzDecision(x.method, dec.Allow)
	if err := dec.Err(); err != nil {
		x.log.Info("request denied by policy", "reason", dec.Reason(), "policies", dec.Policies, "errors", len(dec.Errors))
		return nil, err
	}
	if err := x.checkPinnedCalls(body); err != nil {
		return nil, err
	}
	grant, err := stage(x, telemetry.SpanCredentials, func(ctx context.Context) (*credential.Grant, error) {
		if sc, ok := x.s.o.Creds.(ScopedCredentialSource); ok {
			return sc.CredentialsFor(ctx, x.id, &dec, body)
		}
		return x.s.o.Creds.Credentials(ctx, x.id)
	})
	if err != nil {
		return nil, err
	}
	x.grant = grant
	if err := x.admit(body, grant); err != nil {
		return nil, err
	}
	path := x.hdr.path
	if x.upstream.Path != "" {
		path = x.upstream.Path
	}
	res, err := stage(x, telemetry.SpanSign, func(ctx context.Context) (sigv4.Result, error) {
		return x.s.o.Signer.Sign(ctx, sigv4.Request{
			Method:      x.hdr.method,
			Host:        x.upstream.Host,
			Path:        path,
			Body:        raw,
			ContentType: x.hdr.contentType,
			Credentials: grant.Credentials.AWS(),
			Region:      x.upstream.Region,
			Service:     x.upstream.Service,
			Time:        x.s.o.Now(),
		})
	})
	if err != nil {
		return nil, mcpguard.E(mcpguard.KindInternal, "could not sign the request", fmt.Errorf("sign request: %w", err))
	}
	if err := x.recordForwarding(); err != nil {
		return nil, err
	}
	// The audit trail's forwarded record holds all of this for every
	// request; the log line is for debugging, and its arguments are built
	// only when it is written.
	if x.log.enabled(slog.LevelDebug) {
		x.log.Debug("request forwarded", "role_arn", grant.RoleARN, "access_key_id", grant.Credentials.AccessKeyID,
			"upstream", x.upstream.Host, "policies", dec.Policies, "cached_credentials", grant.Cached)
	}
	mut := x.signingMutation(res, path)
	x.eraRequestMutation(mut)
	return mut, nil
}

// signingMutation sets the signature headers and removes every client-sent
// AWS or mcpguard header (removableHeader) that it does not set: this is
// the one place that decides which client headers never reach the
// upstream. Envoy applies removals before sets.
func (x *exchange) signingMutation(res sigv4.Result, path string) *extprocv3.HeaderMutation {
	n := len(res.Set)
	if path != x.hdr.path {
		n++
	}
	mut := &extprocv3.HeaderMutation{}
	sh := newSetHeaders(n)
	for _, h := range res.Set {
		sh.add(h.Name, h.Value)
	}
	if path != x.hdr.path {
		sh.add(":path", path)
	}
	mut.SetHeaders = sh.opts
	for _, n := range x.hdr.names {
		if !signed(res.Set, n) && removableHeader(n) && !slices.Contains(mut.RemoveHeaders, n) {
			mut.RemoveHeaders = append(mut.RemoveHeaders, n)
		}
	}
	if x.list != nil && slices.Contains(x.hdr.names, "accept-encoding") {
		// The list response must come back uncompressed to be filtered;
		// accept-encoding is not signed, so removing it is safe.
		mut.RemoveHeaders = append(mut.RemoveHeaders, "accept-encoding")
	}
	return mut
}

// signed reports whether the signature sets header n.
func signed(set []sigv4.Header, n string) bool {
	for _, h := range set {
		if h.Name == n {
			return true
		}
	}
	return false
}

// UpstreamMetadataKey is the gRPC initial metadata key in which Envoy's
// per-route ExtProcPerRoute.overrides.grpc_initial_metadata names the
// upstream of the route.
const UpstreamMetadataKey = "x-mcpguard-upstream"

// upstreamFor picks the upstream the stream's route names. Envoy sets the
// metadata from route configuration, never from the client.
func (s *Server) upstreamFor(ctx context.Context) (Upstream, error) {
	// Only the one key is copied out of the stream's metadata.
	names := metadata.ValueFromIncomingContext(ctx, UpstreamMetadataKey)
	if len(s.o.Upstreams) == 0 {
		if len(names) > 0 {
			return Upstream{}, mcpguard.E(mcpguard.KindInternal, "gateway misconfigured: the route names an upstream but mcpguard has no upstreams list", nil)
		}
		return s.o.Upstream, nil
	}
	if len(names) != 1 {
		return Upstream{}, mcpguard.E(mcpguard.KindInternal, "gateway misconfigured: the route does not name its upstream (x-mcpguard-upstream)", nil)
	}
	u, ok := s.o.Upstreams[names[0]]
	if !ok {
		return Upstream{}, mcpguard.Ef(mcpguard.KindInternal, "gateway misconfigured: unknown upstream %q", sanitize(names[0]))
	}
	u.name = names[0]
	return u, nil
}

// localReplyStatus is the :status of a response headers message.
func localReplyStatus(h *extprocv3.HttpHeaders) int {
	for _, hv := range h.GetHeaders().GetHeaders() {
		if hv.GetKey() == ":status" {
			n, _ := strconv.Atoi(headerValue(hv))
			return n
		}
	}
	return 0
}

// responseHeaders records the upstream's answer for logs and metrics.
func (x *exchange) responseHeaders(h *extprocv3.HttpHeaders) {
	if x.list != nil {
		x.list.noBody = h.GetEndOfStream()
	}
	for _, hv := range h.GetHeaders().GetHeaders() {
		key := strings.ToLower(hv.GetKey())
		switch key {
		case ":status", "x-amzn-requestid", "content-type", "content-encoding", hdrSessionID:
		default:
			// No value of any other header is read: only its presence.
			x.noteResponseHeader(key, "")
			continue
		}
		v := headerValue(hv)
		x.noteResponseHeader(key, v)
		switch key {
		case ":status":
			x.status, _ = strconv.Atoi(v)
		case "x-amzn-requestid":
			x.upstreamRequestID = v
		case "content-type":
			if x.list != nil {
				x.list.contentType = v
			}
		case "content-encoding":
			if x.list != nil {
				if x.list.encoding != "" {
					x.list.encoding += ", " // repeated headers: never identity
				}
				x.list.encoding += v
			}
		}
	}
	x.noteUpstreamThrottle()
	if x.status >= 200 && x.status < 400 {
		x.outcome = audit.OutcomeSuccess
	} else {
		x.outcome = audit.OutcomeUpstreamError
	}
}

// fail answers the request with the ImmediateResponse for err and logs it
// once, here, where it is handled.
func (x *exchange) fail(err error) *extprocv3.ProcessingResponse {
	kind := mcpguard.KindOf(err)
	m := mappingFor(kind)
	x.status = m.status
	x.answered = true
	x.phase = requestDone
	x.failure = err
	switch {
	case m.status == 401 || m.status == 403:
		x.outcome = audit.OutcomeDenied
	case m.status >= 500:
		x.outcome = audit.OutcomeError
	default:
		x.outcome = audit.OutcomeFailure
	}
	d := denial{err: err, jsonrpcID: x.jsonrpcID, requestID: x.hdr.requestID}
	if kind == mcpguard.KindUnauthenticated {
		x.s.o.Metrics.AuthnFailure(authn.ProviderOf(err), mcpguard.ReasonOf(err))
		d.challenge = x.s.o.Authn.ChallengeFor(err, x.resource())
	}
	level := slog.LevelInfo
	if m.status >= 500 {
		level = slog.LevelError
	}
	if r := x.eraDenial(err, &d); r != nil {
		x.log.Info("request refused", "status", x.status, "kind", kind.String(), "error", err)
		x.recordRefusal()
		return r
	}
	x.log.Log(x.ctx, level, "request refused", "status", m.status, "kind", kind.String(), "error", err)
	x.recordRefusal()
	return immediate(d)
}

// finish records the request's audit event, metrics and span when the
// stream ends.
func (x *exchange) finish() {
	defer x.releaseQuota()
	if x.span != nil {
		defer x.endSpan()
	}
	if x.outcome == "" {
		return
	}
	if l := x.list; l != nil && x.failure == nil && x.status != 0 && !l.noBody && l.stats == nil && l.failed == nil {
		// The response went by without its body reaching mcpguard: Envoy
		// ignored the mode override (allow_mode_override is off), so the
		// list was not filtered. Nothing can be undone now; make it loud.
		l.failed = mcpguard.E(mcpguard.KindInternal, "list response passed unfiltered: Envoy did not send its body (allow_mode_override must be true)", nil)
		x.outcome = audit.OutcomeError
		x.log.Error("list response passed unfiltered; set allow_mode_override: true on the ext_proc filter", "method", l.method)
	}
	if x.audited() {
		x.checkStreamSeen()
		x.recordFinished()
	}
	x.s.o.Metrics.Request(x.method, string(x.outcome))
	x.s.o.Metrics.Phase("total", x.s.o.Now().Sub(x.start))
}

// httpMethodLabel is the metric label of a request before (or without) its
// JSON-RPC body: one of a fixed set, whatever method the client sent.
func httpMethodLabel(m string) string {
	switch m {
	case http.MethodGet:
		return "http:get"
	case http.MethodDelete:
		return "http:delete"
	case http.MethodPost:
		return "http:post"
	}
	return "other"
}

// sanitize bounds a client-supplied token before it appears in a message.
func sanitize(s string) string {
	const max = 32
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= max {
			b.WriteString("…")
			break
		}
		if r < 0x20 || r == 0x7f || r == '"' || r == '\\' {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}
