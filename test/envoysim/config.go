package envoysim

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"regexp"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// FilterName is the key Envoy uses for ProcessingRequest.attributes and the
// filter's name in the HTTP filter chain.
const FilterName = "envoy.filters.http.ext_proc"

// DefaultMessageTimeout is ExternalProcessor.message_timeout when unset
// (ext_proc.proto: "If not specified, the default value is 200 milliseconds").
const DefaultMessageTimeout = 200 * time.Millisecond

// DefaultBufferLimit is Envoy's default per_connection_buffer_limit_bytes
// (1 MiB), the most a BUFFERED body may hold before Envoy answers 413.
const DefaultBufferLimit = 1 << 20

// Config is what one Envoy ext_proc filter instance knows: its
// ExternalProcessor message plus the per-request facts Envoy would take from
// the route and from earlier filters. Fields not listed as supported in the
// package documentation make New fail rather than be silently ignored.
type Config struct {
	// Filter is the real filter configuration. Nil means an empty
	// ExternalProcessor (all defaults).
	Filter *extprocfilterv3.ExternalProcessor
	// GRPCInitialMetadata is sent as gRPC metadata on every stream, as
	// GrpcService.initial_metadata merged with
	// ExtProcOverrides.grpc_initial_metadata would be.
	GRPCInitialMetadata map[string]string
	// Attributes gives the value of each attribute expression named in
	// request_attributes/response_attributes (for example "source.address").
	// A configured expression without a value is omitted, as Envoy omits an
	// expression whose evaluation fails. request.path, request.url_path,
	// request.host, request.scheme, request.method, request.id and
	// response.code are computed from the request/response when absent here.
	Attributes map[string]any
	// Metadata is the request's dynamic metadata by namespace (what
	// jwt_authn writes under "envoy.filters.http.jwt_authn"). Only namespaces
	// listed in metadata_options.forwarding_namespaces.untyped are sent.
	Metadata map[string]map[string]any
	// BufferLimit is per_connection_buffer_limit_bytes: a BUFFERED request
	// body above it gets 413 and a BUFFERED response body above it 500,
	// without the body reaching the processor. Zero means DefaultBufferLimit.
	BufferLimit int
	// Logger receives debug lines about the exchange; nil discards them.
	Logger *slog.Logger
}

// Filter plays Envoy's ext_proc HTTP filter against a real gRPC processor.
// It is safe for concurrent use; each ProcessRequest is one HTTP request with
// its own bidirectional stream.
type Filter struct {
	client            extprocv3.ExternalProcessorClient
	cfg               *extprocfilterv3.ExternalProcessor
	mode              *extprocfilterv3.ProcessingMode
	checker           *checker
	messageTimeout    time.Duration
	maxMessageTimeout time.Duration
	statusOnError     int
	bufferLimit       int
	attrs             map[string]*structpb.Value
	metadata          map[string]*structpb.Struct
	forwarding        []string
	receiving         map[string]bool
	allowed           []func(string) bool
	disallowed        []func(string) bool
	grpcMD            []string
	log               *slog.Logger
}

// New validates cfg and returns a filter whose streams run over conn. It
// fails for configuration the simulator cannot play faithfully (STREAMED,
// BUFFERED_PARTIAL, FULL_DUPLEX_STREAMED bodies, trailers, observability mode,
// http_service), so that a test never passes against behaviour Envoy lacks.
func New(conn grpc.ClientConnInterface, cfg Config) (*Filter, error) {
	if conn == nil {
		return nil, errors.New("new filter: nil gRPC connection")
	}
	fc := cfg.Filter
	if fc == nil {
		fc = &extprocfilterv3.ExternalProcessor{}
	}
	fc = proto.Clone(fc).(*extprocfilterv3.ExternalProcessor)
	if err := unsupported(fc); err != nil {
		return nil, err
	}
	f := &Filter{
		client:         extprocv3.NewExternalProcessorClient(conn),
		cfg:            fc,
		mode:           fc.GetProcessingMode(),
		messageTimeout: DefaultMessageTimeout,
		statusOnError:  500,
		bufferLimit:    cfg.BufferLimit,
		log:            cfg.Logger,
		receiving:      map[string]bool{},
	}
	if f.mode == nil {
		f.mode = &extprocfilterv3.ProcessingMode{}
	}
	if f.bufferLimit <= 0 {
		f.bufferLimit = DefaultBufferLimit
	}
	if f.log == nil {
		f.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if d := fc.GetMessageTimeout(); d != nil {
		f.messageTimeout = d.AsDuration()
	}
	if d := fc.GetMaxMessageTimeout(); d != nil {
		f.maxMessageTimeout = d.AsDuration()
	}
	// status_on_error: "If not set, the default is 500 Internal Server Error".
	if c := int(fc.GetStatusOnError().GetCode()); c != 0 {
		f.statusOnError = c
	}
	var err error
	if f.checker, err = newChecker(fc.GetMutationRules()); err != nil {
		return nil, fmt.Errorf("new filter: %w", err)
	}
	f.forwarding = fc.GetMetadataOptions().GetForwardingNamespaces().GetUntyped()
	for _, ns := range fc.GetMetadataOptions().GetReceivingNamespaces().GetUntyped() {
		f.receiving[ns] = true
	}
	if f.allowed, err = matchers(fc.GetForwardRules().GetAllowedHeaders()); err != nil {
		return nil, fmt.Errorf("new filter: allowed_headers: %w", err)
	}
	if f.disallowed, err = matchers(fc.GetForwardRules().GetDisallowedHeaders()); err != nil {
		return nil, fmt.Errorf("new filter: disallowed_headers: %w", err)
	}
	f.attrs = make(map[string]*structpb.Value, len(cfg.Attributes))
	for k, v := range cfg.Attributes {
		pv, err := attributeValue(v)
		if err != nil {
			return nil, fmt.Errorf("new filter: attribute %q: %w", k, err)
		}
		f.attrs[k] = pv
	}
	f.metadata = make(map[string]*structpb.Struct, len(cfg.Metadata))
	for ns, fields := range cfg.Metadata {
		st, err := structpb.NewStruct(fields)
		if err != nil {
			return nil, fmt.Errorf("new filter: metadata namespace %q: %w", ns, err)
		}
		f.metadata[ns] = st
	}
	for k, v := range cfg.GRPCInitialMetadata {
		f.grpcMD = append(f.grpcMD, strings.ToLower(k), v)
	}
	return f, nil
}

// Config is a copy of the ExternalProcessor the filter runs with, so tests
// can prove it is the one production Envoy gets.
func (f *Filter) Config() *extprocfilterv3.ExternalProcessor {
	return proto.Clone(f.cfg).(*extprocfilterv3.ExternalProcessor)
}

// BufferLimit is the per_connection_buffer_limit_bytes the filter plays.
func (f *Filter) BufferLimit() int { return f.bufferLimit }

func unsupported(fc *extprocfilterv3.ExternalProcessor) error {
	var problems []string
	if fc.GetHttpService() != nil {
		problems = append(problems, "http_service")
	}
	if fc.GetObservabilityMode() {
		problems = append(problems, "observability_mode")
	}
	if fc.GetProcessingRequestModifier() != nil || fc.GetOnProcessingResponse() != nil {
		problems = append(problems, "processing_request_modifier/on_processing_response extensions")
	}
	m := fc.GetProcessingMode()
	for _, b := range []extprocfilterv3.ProcessingMode_BodySendMode{m.GetRequestBodyMode(), m.GetResponseBodyMode()} {
		if !supportedBodyMode(b) {
			problems = append(problems, "body mode "+b.String())
		}
	}
	if m.GetRequestTrailerMode() == extprocfilterv3.ProcessingMode_SEND || m.GetResponseTrailerMode() == extprocfilterv3.ProcessingMode_SEND {
		problems = append(problems, "trailer mode SEND")
	}
	if len(problems) > 0 {
		return fmt.Errorf("new filter: not simulated: %s", strings.Join(problems, ", "))
	}
	return nil
}

func supportedBodyMode(b extprocfilterv3.ProcessingMode_BodySendMode) bool {
	return b == extprocfilterv3.ProcessingMode_NONE || b == extprocfilterv3.ProcessingMode_BUFFERED
}

// attributeValue converts a Go value the way Envoy's ExpressionManager
// converts a CEL result: bool stays bool, integers and doubles become numbers,
// null stays null, anything else is printed as a string.
func attributeValue(v any) (*structpb.Value, error) {
	switch x := v.(type) {
	case nil:
		return structpb.NewNullValue(), nil
	case bool:
		return structpb.NewBoolValue(x), nil
	case int:
		return structpb.NewNumberValue(float64(x)), nil
	case int32:
		return structpb.NewNumberValue(float64(x)), nil
	case int64:
		return structpb.NewNumberValue(float64(x)), nil
	case uint32:
		return structpb.NewNumberValue(float64(x)), nil
	case uint64:
		return structpb.NewNumberValue(float64(x)), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, errors.New("not a finite number")
		}
		return structpb.NewNumberValue(x), nil
	case string:
		return structpb.NewStringValue(x), nil
	case []byte:
		return structpb.NewStringValue(string(x)), nil
	case fmt.Stringer:
		return structpb.NewStringValue(x.String()), nil
	}
	return nil, fmt.Errorf("unsupported type %T", v)
}

// matchers compiles a ListStringMatcher into predicates with Envoy's
// StringMatcher semantics (exact/prefix/suffix/contains, ignore_case, RE2
// full match for safe_regex).
func matchers(l *matcherv3.ListStringMatcher) ([]func(string) bool, error) {
	var out []func(string) bool
	for _, p := range l.GetPatterns() {
		ic := p.GetIgnoreCase()
		norm := func(s string) string {
			if ic {
				return strings.ToLower(s)
			}
			return s
		}
		switch mp := p.GetMatchPattern().(type) {
		case *matcherv3.StringMatcher_Exact:
			want := norm(mp.Exact)
			out = append(out, func(s string) bool { return norm(s) == want })
		case *matcherv3.StringMatcher_Prefix:
			want := norm(mp.Prefix)
			out = append(out, func(s string) bool { return strings.HasPrefix(norm(s), want) })
		case *matcherv3.StringMatcher_Suffix:
			want := norm(mp.Suffix)
			out = append(out, func(s string) bool { return strings.HasSuffix(norm(s), want) })
		case *matcherv3.StringMatcher_Contains:
			want := norm(mp.Contains)
			out = append(out, func(s string) bool { return strings.Contains(norm(s), want) })
		case *matcherv3.StringMatcher_SafeRegex:
			re, err := regexp.Compile(`^(?:` + mp.SafeRegex.GetRegex() + `)$`)
			if err != nil {
				return nil, fmt.Errorf("compile safe_regex: %w", err)
			}
			out = append(out, re.MatchString)
		default:
			return nil, fmt.Errorf("unsupported string matcher %T", mp)
		}
	}
	return out, nil
}

func anyMatch(ms []func(string) bool, s string) bool {
	for _, m := range ms {
		if m(s) {
			return true
		}
	}
	return false
}

// forwardable is MutationUtils::headerCanBeForwarded (forward_rules).
func (f *Filter) forwardable(key string) bool {
	if len(f.disallowed) > 0 && anyMatch(f.disallowed, key) {
		return false
	}
	return len(f.allowed) == 0 || anyMatch(f.allowed, key)
}

// headersToProto is MutationUtils::headersToProto: every forwardable entry,
// value in raw_value (runtime envoy.reloadable_features.send_header_raw_value).
func (f *Filter) headersToProto(hm *headerMap) *corev3.HeaderMap {
	out := &corev3.HeaderMap{}
	for _, e := range hm.entries {
		if !f.forwardable(e.Key) {
			continue
		}
		out.Headers = append(out.Headers, &corev3.HeaderValue{Key: e.Key, RawValue: []byte(e.Value)})
	}
	return out
}
