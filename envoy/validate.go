package envoy

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	awsrequestsigningv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/aws_request_signing/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	jwtauthnv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/mcpguard/mcpguard/config"
)

// Check names one of mcpguard's rules for an Envoy configuration. Each
// guards against a setting that opens a security hole or fails every
// request.
type Check string

// The rules Validate applies.
const (
	// CheckListeners: there is a static listener with an HTTP connection
	// manager and inline routes to check.
	CheckListeners Check = "listeners"
	// CheckExtProcPresent: every connection manager runs ext_proc, and no
	// forwarding route disables it.
	CheckExtProcPresent Check = "ext_proc_present"
	// CheckExtProcOrder: ext_proc comes before the router.
	CheckExtProcOrder Check = "ext_proc_before_router"
	// CheckFailClosed: failure_mode_allow is false, also in per-route
	// overrides.
	CheckFailClosed Check = "failure_mode_allow"
	// CheckProcessingMode: request headers are sent, the request body is
	// BUFFERED, response headers are sent, mode overrides are allowed (for
	// list filtering), and ext_proc is not in observability mode.
	CheckProcessingMode Check = "processing_mode"
	// CheckMessageTimeout: message_timeout is at least 1s.
	CheckMessageTimeout Check = "message_timeout"
	// CheckMutationRules: mutation_rules.disallow_is_error is true.
	CheckMutationRules Check = "mutation_rules"
	// CheckHostRewrite: every forwarding route rewrites Host to the
	// signing host with host_rewrite_literal.
	CheckHostRewrite Check = "host_rewrite"
	// CheckPathRewrite: no forwarding route rewrites the path.
	CheckPathRewrite Check = "path_rewrite"
	// CheckPathNormalization: the connection manager normalizes the path
	// (normalize_path, merge_slashes) and rejects escaped slashes
	// (path_with_escaped_slashes_action: REJECT_REQUEST), so mcpguard,
	// the router and the upstream read one path.
	CheckPathNormalization Check = "path_normalization"
	// CheckGRPCCluster: ext_proc talks gRPC to a static cluster with
	// HTTP/2.
	CheckGRPCCluster Check = "grpc_cluster"
	// CheckJWTForward: every jwt_authn provider forwards the token.
	CheckJWTForward Check = "jwt_authn_forward"
	// CheckGRPCPeerAuth: the ext_proc cluster authenticates to mcpguard as
	// the configuration demands: with server.grpc_tls it presents a client
	// certificate, verifies mcpguard's server certificate by CA and SAN,
	// and offers ALPN h2; with a unix:// listener every endpoint is that
	// pipe.
	CheckGRPCPeerAuth Check = "grpc_peer_auth"
	// CheckJWTMetadata: with token_source envoy_metadata, jwt_authn runs
	// before ext_proc, writes the payload under metadata_key, and ext_proc
	// forwards that namespace.
	CheckJWTMetadata Check = "jwt_authn_metadata"
	// CheckImmediateResponse: disable_immediate_response is not set;
	// with it Envoy ignores mcpguard's denials and forwards the request.
	CheckImmediateResponse Check = "immediate_response"
	// CheckBodyOrdering: send_body_without_waiting_for_header_response is
	// not set, so the body waits for mcpguard's answer to the headers.
	CheckBodyOrdering Check = "body_ordering"
	// CheckOverrideModes: allowed_override_modes, when set, lists the
	// modes mcpguard asks for (OverrideModes).
	CheckOverrideModes Check = "allowed_override_modes"
	// CheckUpstreamTLS: every cluster a forwarding route reaches speaks TLS,
	// verifies the server's chain against a trusted CA and its name by SAN,
	// and does not accept untrusted chains.
	CheckUpstreamTLS Check = "upstream_tls"
	// CheckPerRouteService: no route sends its ext_proc streams to another
	// gRPC service (ExtProcPerRoute overrides.grpc_service).
	CheckPerRouteService Check = "per_route_grpc_service"
	// CheckRouteCache: route_cache_action is not CLEAR.
	CheckRouteCache Check = "route_cache_action"
	// CheckRequestAttributes: request_attributes holds source.address and
	// request.id.
	CheckRequestAttributes Check = "request_attributes"
	// CheckFilterAfterExtProc: no filter that rewrites request headers
	// runs between ext_proc and the router.
	CheckFilterAfterExtProc Check = "filter_after_ext_proc"
)

// RequiredAttributes are the request_attributes mcpguard reads: the client
// address for context.source_ip policies and rate limits, and Envoy's
// request id for the audit trail.
var RequiredAttributes = []string{"source.address", "request.id"}

// OverrideModes are the processing modes mcpguard sends as mode_override:
// the whole response body of a list call, and an event stream chunk by
// chunk. allowed_override_modes, when not empty, must list both; Envoy
// ignores any override it does not list.
func OverrideModes() []*extprocfilterv3.ProcessingMode {
	mode := func(body extprocfilterv3.ProcessingMode_BodySendMode) *extprocfilterv3.ProcessingMode {
		return &extprocfilterv3.ProcessingMode{
			RequestHeaderMode:   extprocfilterv3.ProcessingMode_SEND,
			ResponseHeaderMode:  extprocfilterv3.ProcessingMode_SEND,
			RequestBodyMode:     extprocfilterv3.ProcessingMode_BUFFERED,
			ResponseBodyMode:    body,
			RequestTrailerMode:  extprocfilterv3.ProcessingMode_SKIP,
			ResponseTrailerMode: extprocfilterv3.ProcessingMode_SKIP,
		}
	}
	return []*extprocfilterv3.ProcessingMode{mode(extprocfilterv3.ProcessingMode_BUFFERED), mode(extprocfilterv3.ProcessingMode_STREAMED)}
}

// minMessageTimeout is the smallest per-message timeout that fits an STS
// call. Envoy's default, 200 ms, does not.
const minMessageTimeout = time.Second

// defaultMessageTimeout is Envoy's message_timeout when the field is unset.
const defaultMessageTimeout = 200 * time.Millisecond

// Problem is one broken rule, located in the bootstrap.
type Problem struct {
	// Check is the rule.
	Check Check
	// Where locates the offending element, e.g. `listener "x" route "y"`.
	Where string
	// Message says what is wrong and what it would cause.
	Message string
}

// String is the form the CLI prints and fixtures expect.
func (p Problem) String() string { return p.Where + ": " + p.Message }

// Problems is a list of Problem that is also an error.
type Problems []Problem

// Error lists every problem, one a line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// ValidateOptions add knowledge a bootstrap alone does not carry.
type ValidateOptions struct {
	// Config, when set, is the mcpguard configuration the bootstrap serves:
	// route hosts are compared with the signing hosts, named upstreams
	// must exist, and token_source envoy_metadata requires jwt_authn.
	// Without it, a route's host is compared with its cluster's TLS SNI.
	Config *config.Config
	// PlainUpstream accepts upstream clusters without TLS. Only for tests
	// that put a plain HTTP server on loopback in place of AWS.
	PlainUpstream bool
}

// Validate parses data as an Envoy bootstrap (see ParseBootstrap) and
// applies mcpguard's rules to it. The error reports a file that is not a
// valid Envoy bootstrap at all; Problems report a valid bootstrap that would
// run mcpguard unsafely or break every request.
func Validate(data []byte, o ValidateOptions) ([]Problem, error) {
	b, err := ParseBootstrap(data)
	if err != nil {
		return nil, err
	}
	return CheckBootstrap(b, o), nil
}

// CheckBootstrap applies mcpguard's rules to a parsed bootstrap.
func CheckBootstrap(b *bootstrapv3.Bootstrap, o ValidateOptions) []Problem {
	v := &checker{o: o, clusters: map[string]*clusterv3.Cluster{}}
	for _, c := range b.GetStaticResources().GetClusters() {
		v.clusters[c.GetName()] = c
	}
	for _, l := range b.GetStaticResources().GetListeners() {
		v.listener(l)
	}
	if v.hcms == 0 {
		v.add(CheckListeners, "bootstrap", "no static listener has an http_connection_manager, so nothing can be checked (listeners and routes from xDS are not supported)")
	}
	return v.problems
}

type checker struct {
	o        ValidateOptions
	clusters map[string]*clusterv3.Cluster
	hcms     int
	problems []Problem
}

func (v *checker) add(c Check, where, format string, args ...any) {
	v.problems = append(v.problems, Problem{Check: c, Where: where, Message: fmt.Sprintf(format, args...)})
}

func (v *checker) listener(l *listenerv3.Listener) {
	chains := l.GetFilterChains()
	if d := l.GetDefaultFilterChain(); d != nil {
		chains = append(slices.Clip(chains), d)
	}
	for i, fc := range chains {
		for _, f := range fc.GetFilters() {
			hcm := &hcmv3.HttpConnectionManager{}
			if !unpack(f.GetTypedConfig(), hcm) {
				continue
			}
			v.hcms++
			where := fmt.Sprintf("listener %q", l.GetName())
			if len(chains) > 1 {
				where += fmt.Sprintf(" filter_chains[%d]", i)
			}
			v.hcm(where, hcm)
		}
	}
}

// extProcInChain is the ext_proc filter of one connection manager.
type extProcInChain struct {
	index    int
	disabled bool
	cfg      *extprocfilterv3.ExternalProcessor
}

func (v *checker) hcm(where string, hcm *hcmv3.HttpConnectionManager) {
	var ep *extProcInChain
	router, jwtIndex := -1, -1
	var jwts []*jwtauthnv3.JwtAuthentication
	for i, f := range hcm.GetHttpFilters() {
		tc := f.GetTypedConfig()
		switch {
		case is(tc, &extprocfilterv3.ExternalProcessor{}) || f.GetName() == FilterExtProc:
			if ep != nil {
				continue // the first ext_proc decides; a second one changes nothing above
			}
			ep = &extProcInChain{index: i, disabled: f.GetDisabled(), cfg: &extprocfilterv3.ExternalProcessor{}}
			if !unpack(tc, ep.cfg) {
				v.add(CheckExtProcPresent, where, "%s has no inline ExternalProcessor typed_config (discovery or another type), which cannot be checked offline", FilterExtProc)
				ep.cfg = nil
			}
		case is(tc, &routerv3.Router{}):
			if router < 0 {
				router = i
			}
		case is(tc, &jwtauthnv3.JwtAuthentication{}):
			ja := &jwtauthnv3.JwtAuthentication{}
			unpack(tc, ja)
			jwts = append(jwts, ja)
			if jwtIndex < 0 {
				jwtIndex = i
			}
		}
	}
	for _, ja := range jwts {
		for _, name := range sortedKeys(ja.GetProviders()) {
			if !ja.GetProviders()[name].GetForward() {
				v.add(CheckJWTForward, fmt.Sprintf("%s jwt_authn provider %q", where, name),
					"forward is false: Envoy removes the JWT after verifying it, but mcpguard needs the token itself for STS AssumeRoleWithWebIdentity; set forward: true")
			}
		}
	}
	v.pathNormalization(where, hcm)
	if ep == nil {
		v.add(CheckExtProcPresent, where, "http_connection_manager has no %s filter, so requests reach the upstream without authentication, authorization or signing", FilterExtProc)
		return
	}
	if router >= 0 && router < ep.index {
		v.add(CheckExtProcOrder, where, "%s (http_filters[%d]) comes after %s (http_filters[%d]); filters after the router never run", FilterExtProc, ep.index, FilterRouter, router)
	}
	v.filtersAfterExtProc(where, hcm.GetHttpFilters(), ep.index, router)
	if ep.cfg != nil {
		v.problems = append(v.problems, CheckExtProc(where+" ext_proc", ep.cfg)...)
		v.grpcCluster(where+" ext_proc", ep.cfg)
		v.jwtMetadata(where, ep, jwtIndex, jwts)
	}
	rc := hcm.GetRouteConfig()
	if rc == nil {
		v.add(CheckListeners, where, "routes come from RDS or scoped routes, which cannot be checked offline; inline the route_config")
		return
	}
	for _, vh := range rc.GetVirtualHosts() {
		for i, r := range vh.GetRoutes() {
			name := r.GetName()
			if name == "" {
				name = fmt.Sprintf("%s[%d]", vh.GetName(), i)
			}
			v.route(fmt.Sprintf("%s route %q", where, name), ep, rc, vh, r)
		}
	}
}

// headerRewriters are HTTP filters that change request headers. Between
// ext_proc and the router they act after mcpguard signed the request and
// stripped client headers.
var headerRewriters = []proto.Message{
	&headermutationv3.HeaderMutation{},
	&awsrequestsigningv3.AwsRequestSigning{},
}

// headerRewriterNames are rewriting filters known by name whose typed
// configuration this package does not parse.
var headerRewriterNames = []string{"envoy.filters.http.lua", "envoy.filters.http.wasm", "envoy.filters.http.credential_injector", "envoy.filters.http.header_to_metadata"}

func (v *checker) filtersAfterExtProc(where string, fs []*hcmv3.HttpFilter, ext, router int) {
	end := router
	if end < 0 {
		end = len(fs)
	}
	for i := ext + 1; i < end; i++ {
		f := fs[i]
		rewrites := slices.Contains(headerRewriterNames, f.GetName())
		for _, m := range headerRewriters {
			rewrites = rewrites || is(f.GetTypedConfig(), m)
		}
		if rewrites && !f.GetDisabled() {
			v.add(CheckFilterAfterExtProc, where, "%s (http_filters[%d]) runs after ext_proc and before the router: it changes request headers after mcpguard signed them and stripped the client's, so it can break the signature or send what mcpguard removed; put it before ext_proc", f.GetName(), i)
		}
	}
}

// pathNormalization flags a connection manager that forwards paths it has
// not normalized: mcpguard refuses unclean paths itself, but Envoy's own
// normalization is what makes the router match the path mcpguard saw.
func (v *checker) pathNormalization(where string, hcm *hcmv3.HttpConnectionManager) {
	if !hcm.GetNormalizePath().GetValue() {
		v.add(CheckPathNormalization, where, "normalize_path is not true: Envoy would route and forward dot segments (/mcp/../x) that mcpguard did not authorize as such")
	}
	if !hcm.GetMergeSlashes() {
		v.add(CheckPathNormalization, where, "merge_slashes is not true: Envoy would route and forward //-paths that other readers merge")
	}
	if hcm.GetPathWithEscapedSlashesAction() != hcmv3.HttpConnectionManager_REJECT_REQUEST {
		v.add(CheckPathNormalization, where, "path_with_escaped_slashes_action is not REJECT_REQUEST: %%2F and %%5C in a path split differently in Envoy and in the upstream")
	}
}

// CheckExtProc applies the filter-level rules to one ext_proc
// configuration; where prefixes each Problem. It serves bootstraps and the
// filters an Istio EnvoyFilter inserts alike.
func CheckExtProc(where string, ep *extprocfilterv3.ExternalProcessor) []Problem {
	var ps []Problem
	add := func(c Check, format string, args ...any) {
		ps = append(ps, Problem{Check: c, Where: where, Message: fmt.Sprintf(format, args...)})
	}
	if ep.GetFailureModeAllow() {
		add(CheckFailClosed, "failure_mode_allow is true: when mcpguard is unreachable, slow or failing, Envoy forwards requests unauthenticated and unsigned")
	}
	if ep.GetObservabilityMode() {
		add(CheckProcessingMode, "observability_mode is true: Envoy ignores mcpguard's answers, so no request is denied or signed")
	}
	if m := processingProblem(ep.GetProcessingMode()); m != "" {
		add(CheckProcessingMode, "%s", m)
	}
	if m := responseHeaderProblem(ep.GetProcessingMode()); m != "" {
		add(CheckProcessingMode, "%s", m)
	}
	if !ep.GetAllowModeOverride() {
		add(CheckProcessingMode, "allow_mode_override is not true: mcpguard cannot ask for list response bodies, so tools/list, prompts/list and resource lists would reach clients unfiltered")
	}
	switch t := ep.GetMessageTimeout(); {
	case t == nil:
		add(CheckMessageTimeout, "message_timeout is unset (Envoy's default is %s), want at least %s: an STS call takes longer, so requests would fail with 504", defaultMessageTimeout, minMessageTimeout)
	case t.AsDuration() < minMessageTimeout:
		add(CheckMessageTimeout, "message_timeout is %s, want at least %s: an STS call takes longer, so requests would fail with 504", t.AsDuration(), minMessageTimeout)
	}
	if !ep.GetMutationRules().GetDisallowIsError().GetValue() {
		add(CheckMutationRules, "mutation_rules.disallow_is_error is not true: a header mutation Envoy refuses would be dropped silently instead of failing the request")
	}
	if ep.GetDisableImmediateResponse() {
		add(CheckImmediateResponse, "disable_immediate_response is true: Envoy ignores mcpguard's denials (401, 403, 429) and forwards the request to the upstream")
	}
	if ep.GetSendBodyWithoutWaitingForHeaderResponse() {
		add(CheckBodyOrdering, "send_body_without_waiting_for_header_response is true: the body leaves before mcpguard has answered the headers, so a header denial no longer stops it and mcpguard's per-request state breaks")
	}
	if ms := ep.GetAllowedOverrideModes(); len(ms) > 0 {
		for _, want := range OverrideModes() {
			if !slices.ContainsFunc(ms, func(m *extprocfilterv3.ProcessingMode) bool { return proto.Equal(m, want) }) {
				add(CheckOverrideModes, "allowed_override_modes does not list response_body_mode %s with the other modes unchanged: Envoy ignores mcpguard's mode override, so list responses and event streams reach clients unfiltered", want.GetResponseBodyMode())
			}
		}
	}
	if ep.GetRouteCacheAction() == extprocfilterv3.ExternalProcessor_CLEAR {
		add(CheckRouteCache, "route_cache_action is CLEAR: Envoy picks the route again after mcpguard's header mutations, so the request can reach a route and cluster other than the one mcpguard authorized and signed for")
	}
	for _, a := range RequiredAttributes {
		if !slices.Contains(ep.GetRequestAttributes(), a) {
			add(CheckRequestAttributes, "request_attributes does not list %q: mcpguard then never learns %s", a, attributeUse[a])
		}
	}
	return ps
}

// attributeUse says what each required attribute is for.
var attributeUse = map[string]string{
	"source.address": "the client address, so context.source_ip policies and per-address limits see nothing",
	"request.id":     "Envoy's request id, so audit records cannot be joined with Envoy's access log",
}

// processingProblem explains a processing mode mcpguard cannot work with,
// or returns "".
func processingProblem(pm *extprocfilterv3.ProcessingMode) string {
	if pm.GetRequestHeaderMode() == extprocfilterv3.ProcessingMode_SKIP {
		return "processing_mode.request_header_mode is SKIP: mcpguard never sees the request, so nothing is authenticated or signed"
	}
	if b := pm.GetRequestBodyMode(); b != extprocfilterv3.ProcessingMode_BUFFERED {
		return fmt.Sprintf("processing_mode.request_body_mode is %s, want BUFFERED: mcpguard must see the whole body to authorize every JSON-RPC message and sign its hash, and Envoy applies signature headers from a body response only in BUFFERED mode", b)
	}
	return ""
}

// responseHeaderProblem explains a response header mode that leaves
// responses unchecked, or returns "".
func responseHeaderProblem(pm *extprocfilterv3.ProcessingMode) string {
	if pm.GetResponseHeaderMode() == extprocfilterv3.ProcessingMode_SKIP {
		return "processing_mode.response_header_mode is SKIP: mcpguard cannot filter list responses nor record the upstream's status and request id"
	}
	return ""
}

func (v *checker) grpcCluster(where string, ep *extprocfilterv3.ExternalProcessor) {
	if ep.GetHttpService() != nil {
		v.add(CheckGRPCCluster, where, "uses http_service, which sends headers only; mcpguard needs the gRPC service to see request bodies")
		return
	}
	eg := ep.GetGrpcService().GetEnvoyGrpc()
	if eg == nil {
		return // google_grpc speaks HTTP/2 by itself
	}
	c, ok := v.clusters[eg.GetClusterName()]
	if !ok {
		v.add(CheckGRPCCluster, where, "gRPC cluster %q is not defined in static_resources.clusters", eg.GetClusterName())
		return
	}
	if !http2(c) {
		v.add(CheckGRPCCluster, fmt.Sprintf("cluster %q", c.GetName()), "gRPC needs HTTP/2, but the cluster does not set typed_extension_protocol_options[%q].explicit_http_config.http2_protocol_options", HTTPProtocolOptionsKey)
	}
	v.peerAuth(c)
}

// peerAuth checks the ext_proc cluster against server.grpc_listen and
// server.grpc_tls. mcpguard enforces both itself (a peer without an allowed
// client certificate fails the handshake), so a mismatch here means every
// request fails closed; the check names the cause before Envoy starts.
func (v *checker) peerAuth(c *clusterv3.Cluster) {
	cfg := v.o.Config
	if cfg == nil {
		return
	}
	where := fmt.Sprintf("cluster %q", c.GetName())
	if path := cfg.Server.GRPCSocket(); path != "" {
		for _, lle := range c.GetLoadAssignment().GetEndpoints() {
			for _, le := range lle.GetLbEndpoints() {
				if got := le.GetEndpoint().GetAddress().GetPipe().GetPath(); got != path {
					v.add(CheckGRPCPeerAuth, where, "mcpguard listens on the Unix socket %s (server.grpc_listen), but an endpoint of the cluster is not that pipe address", path)
					return
				}
			}
		}
	}
	if !cfg.Server.GRPCTLS.Enabled() {
		return
	}
	tls := &tlsv3.UpstreamTlsContext{}
	if !unpack(c.GetTransportSocket().GetTypedConfig(), tls) {
		v.add(CheckGRPCPeerAuth, where, "server.grpc_tls is set, but the cluster has no UpstreamTlsContext transport socket: mcpguard refuses plaintext peers")
		return
	}
	ctc := tls.GetCommonTlsContext()
	if len(ctc.GetTlsCertificates()) == 0 && len(ctc.GetTlsCertificateSdsSecretConfigs()) == 0 && ctc.GetTlsCertificateProviderInstance() == nil {
		v.add(CheckGRPCPeerAuth, where, "the UpstreamTlsContext presents no client certificate: mcpguard (server.grpc_tls) refuses a peer without one at the handshake")
	}
	if !slices.Contains(ctc.GetAlpnProtocols(), "h2") {
		v.add(CheckGRPCPeerAuth, where, "the UpstreamTlsContext does not offer ALPN h2: gRPC servers refuse TLS connections that negotiate no protocol")
	}
	vc := ctc.GetValidationContext()
	if cvc := ctc.GetCombinedValidationContext(); cvc != nil {
		vc = cvc.GetDefaultValidationContext()
	}
	sds := ctc.GetValidationContextSdsSecretConfig() != nil || ctc.GetCombinedValidationContext().GetValidationContextSdsSecretConfig() != nil
	switch {
	case vc.GetTrustedCa() == nil && vc.GetCaCertificateProviderInstance() == nil && !sds:
		v.add(CheckGRPCPeerAuth, where, "the UpstreamTlsContext does not verify mcpguard's server certificate (no trusted_ca): anyone on the path could play mcpguard and answer for it")
	case len(vc.GetMatchTypedSubjectAltNames()) == 0 && !sds:
		v.add(CheckGRPCPeerAuth, where, "the UpstreamTlsContext accepts any certificate its CA issued: set match_typed_subject_alt_names to mcpguard's name")
	}
}

func http2(c *clusterv3.Cluster) bool {
	if c.GetHttp2ProtocolOptions() != nil { //nolint:staticcheck // the deprecated field still selects HTTP/2
		return true
	}
	opts := &httpv3.HttpProtocolOptions{}
	if !unpack(c.GetTypedExtensionProtocolOptions()[HTTPProtocolOptionsKey], opts) {
		return false
	}
	return opts.GetExplicitHttpConfig().GetHttp2ProtocolOptions() != nil
}

func (v *checker) jwtMetadata(where string, ep *extProcInChain, jwtIndex int, jwts []*jwtauthnv3.JwtAuthentication) {
	cfg := v.o.Config
	if cfg == nil || cfg.OIDC.TokenSource != config.TokenSourceEnvoyMetadata {
		return
	}
	if jwtIndex < 0 || jwtIndex > ep.index {
		v.add(CheckJWTMetadata, where, "token_source is envoy_metadata, but no %s filter runs before ext_proc, so mcpguard has no verified payload", FilterJWTAuthn)
		return
	}
	if !slices.Contains(ep.cfg.GetMetadataOptions().GetForwardingNamespaces().GetUntyped(), FilterJWTAuthn) {
		v.add(CheckJWTMetadata, where+" ext_proc", "metadata_options.forwarding_namespaces.untyped does not list %q, so mcpguard never receives the verified payload", FilterJWTAuthn)
	}
	if !cfg.HasProviders() {
		if !payloadFrom(jwts, cfg.OIDC.MetadataKey, nil) {
			v.add(CheckJWTMetadata, where, "no jwt_authn provider sets payload_in_metadata to %q (oidc_config.metadata_key)", cfg.OIDC.MetadataKey)
		}
		return
	}
	// With oidc_providers mcpguard reads each provider's payload under its
	// own key, so every provider needs a jwt_authn provider writing that
	// key, and only for that provider's issuers: a payload another issuer
	// wrote there would be taken for this provider's.
	for i, p := range cfg.OIDCProviders {
		key := cfg.ProviderMetadataKey(p.Name)
		issuers := []string{p.Issuer}
		if strings.Contains(p.Issuer, config.TenantPlaceholder) {
			issuers = issuers[:0]
			for _, t := range p.Tenants {
				issuers = append(issuers, strings.ReplaceAll(p.Issuer, config.TenantPlaceholder, t))
			}
		}
		if !payloadFrom(jwts, key, nil) {
			v.add(CheckJWTMetadata, where, "no jwt_authn provider sets payload_in_metadata to %q (oidc_providers[%d] %q)", key, i, p.Name)
			continue
		}
		payloadFrom(jwts, key, func(name string, jp *jwtauthnv3.JwtProvider) {
			if !slices.Contains(issuers, jp.GetIssuer()) {
				v.add(CheckJWTMetadata, fmt.Sprintf("%s jwt_authn provider %q", where, name),
					"payload_in_metadata %q is oidc_providers[%d] %q's key, but issuer %q is not one of its issuers", key, i, p.Name, jp.GetIssuer())
			}
		})
	}
}

// payloadFrom reports whether some jwt_authn provider puts its payload
// under key, calling each (if each is not nil) in name order.
func payloadFrom(jwts []*jwtauthnv3.JwtAuthentication, key string, each func(string, *jwtauthnv3.JwtProvider)) bool {
	found := false
	for _, ja := range jwts {
		ps := ja.GetProviders()
		for _, name := range slices.Sorted(maps.Keys(ps)) {
			if ps[name].GetPayloadInMetadata() != key {
				continue
			}
			found = true
			if each != nil {
				each(name, ps[name])
			}
		}
	}
	return found
}

func (v *checker) route(where string, ep *extProcInChain, rc *routev3.RouteConfiguration, vh *routev3.VirtualHost, r *routev3.Route) {
	ra := r.GetRoute()
	if ra == nil {
		return // direct responses and redirects reach no upstream
	}
	// Per-filter configuration, most specific first.
	levels := []map[string]*anypb.Any{r.GetTypedPerFilterConfig(), vh.GetTypedPerFilterConfig(), rc.GetTypedPerFilterConfig()}
	perRoute, enabled := perRouteExtProc(ep, levels)
	for _, cw := range ra.GetWeightedClusters().GetClusters() {
		if _, on := perRouteExtProc(ep, append([]map[string]*anypb.Any{cw.GetTypedPerFilterConfig()}, levels...)); !on {
			enabled = false
		}
	}
	if !enabled {
		v.add(CheckExtProcPresent, where, "ext_proc is disabled for this route, so its requests reach the upstream without authentication, authorization or signing")
		return
	}
	if fm := perRoute.GetOverrides().GetFailureModeAllow(); fm.GetValue() {
		v.add(CheckFailClosed, where, "the ext_proc per-route override sets failure_mode_allow to true: when mcpguard is unreachable, slow or failing, Envoy forwards requests unauthenticated and unsigned")
	}
	if pm := perRoute.GetOverrides().GetProcessingMode(); pm != nil {
		if m := processingProblem(pm); m != "" {
			v.add(CheckProcessingMode, where, "the ext_proc per-route override's %s", m)
		}
		if m := responseHeaderProblem(pm); m != "" {
			v.add(CheckProcessingMode, where, "the ext_proc per-route override's %s", m)
		}
	}
	if perRoute.GetOverrides().GetGrpcService() != nil {
		v.add(CheckPerRouteService, where, "the ext_proc per-route override sets grpc_service: this route's requests go to a processor other than the checked one, whose cluster, TLS and identity nothing here verifies; name upstreams with grpc_initial_metadata instead")
	}
	for _, cn := range routeClusters(ra) {
		v.upstreamTLS(where, cn)
	}
	switch {
	case ra.GetPrefixRewrite() != "":
		v.add(CheckPathRewrite, where, "prefix_rewrite changes :path after mcpguard signed it, so AWS would reject the signature; set the upstream path in mcpguard's configuration instead")
	case ra.GetRegexRewrite() != nil, ra.GetPathRewritePolicy() != nil, ra.GetPathRewrite() != "":
		v.add(CheckPathRewrite, where, "the route rewrites :path after mcpguard signed it, so AWS would reject the signature; set the upstream path in mcpguard's configuration instead")
	}

	literal := ra.GetHostRewriteLiteral()
	if literal == "" {
		if ra.GetHostRewriteSpecifier() != nil {
			v.add(CheckHostRewrite, where, "the route rewrites Host from the request or the endpoint, but mcpguard signs one fixed host; use host_rewrite_literal with that host")
		} else {
			v.add(CheckHostRewrite, where, "host_rewrite_literal is missing: Envoy would forward the client's Host, but mcpguard signs the upstream host, so AWS would reject every signature")
		}
		return
	}
	if cfg := v.o.Config; cfg != nil {
		name := upstreamName(ep.cfg, levels)
		want := cfg.Upstream.Host
		if name != "" {
			i := slices.IndexFunc(cfg.Upstreams, func(u config.NamedUpstream) bool { return u.Name == name })
			if i < 0 {
				v.add(CheckHostRewrite, where, "%s names upstream %q, which upstreams does not define, so mcpguard refuses its requests", UpstreamMetadataKey, name)
				return
			}
			want = cfg.Upstreams[i].Host
		}
		if literal != want {
			v.add(CheckHostRewrite, where, "host_rewrite_literal %q is not the signing host %q, so AWS would reject every signature", literal, want)
			return
		}
	}
	for _, cn := range routeClusters(ra) {
		sni := v.clusterSNI(cn)
		if sni != "" && !strings.EqualFold(hostOnly(literal), sni) {
			v.add(CheckHostRewrite, where, "host_rewrite_literal %q is not the TLS SNI %q of cluster %q: mcpguard signs the rewritten host, which must be the upstream's own name", literal, sni, cn)
		}
	}
}

// upstreamTLS checks that a cluster a forwarding route reaches verifies the
// upstream: the request carries SigV4 credentials and the response is
// trusted as AWS's answer.
func (v *checker) upstreamTLS(where, name string) {
	if v.o.PlainUpstream {
		return
	}
	c, ok := v.clusters[name]
	if !ok {
		return // a cluster from CDS or a typo: Envoy itself refuses the latter
	}
	where = fmt.Sprintf("%s cluster %q", where, name)
	tls := &tlsv3.UpstreamTlsContext{}
	if !unpack(c.GetTransportSocket().GetTypedConfig(), tls) {
		v.add(CheckUpstreamTLS, where, "the cluster has no UpstreamTlsContext transport socket: signed requests and their credentials cross the network in plain text to whoever answers")
		return
	}
	ctc := tls.GetCommonTlsContext()
	vc := ctc.GetValidationContext()
	if cvc := ctc.GetCombinedValidationContext(); cvc != nil {
		vc = cvc.GetDefaultValidationContext()
	}
	if ctc.GetValidationContextSdsSecretConfig() != nil || ctc.GetCombinedValidationContext().GetValidationContextSdsSecretConfig() != nil {
		return // verified by a secret the validator cannot see
	}
	if vc.GetTrustChainVerification() == tlsv3.CertificateValidationContext_ACCEPT_UNTRUSTED {
		v.add(CheckUpstreamTLS, where, "trust_chain_verification is ACCEPT_UNTRUSTED: any certificate is accepted, so anyone on the path can play AWS")
	}
	if vc.GetTrustedCa() == nil && vc.GetCaCertificateProviderInstance() == nil && vc.GetSystemRootCerts() == nil {
		v.add(CheckUpstreamTLS, where, "the UpstreamTlsContext has no trusted_ca: Envoy does not verify the server's certificate, so anyone on the path can play AWS and collect signed requests")
	}
	if len(vc.GetMatchTypedSubjectAltNames()) == 0 && len(vc.GetMatchSubjectAltNames()) == 0 { //nolint:staticcheck // the deprecated field still verifies
		v.add(CheckUpstreamTLS, where, "the UpstreamTlsContext has no match_typed_subject_alt_names: any certificate the CA issued, for any name, is accepted; match the upstream host")
	}
}

// perRouteExtProc finds the most specific per-route ext_proc setting among
// levels (most specific first) and reports whether the filter runs.
func perRouteExtProc(ep *extProcInChain, levels []map[string]*anypb.Any) (*extprocfilterv3.ExtProcPerRoute, bool) {
	for _, tpfc := range levels {
		a, ok := tpfc[FilterExtProc]
		if !ok {
			continue
		}
		fc := &routev3.FilterConfig{}
		if unpack(a, fc) {
			if fc.GetDisabled() {
				return nil, false
			}
			a = fc.GetConfig()
		}
		pr := &extprocfilterv3.ExtProcPerRoute{}
		if unpack(a, pr) {
			return pr, !pr.GetDisabled()
		}
		return nil, true // FilterConfig{disabled: false} without a config enables
	}
	return nil, !ep.disabled
}

// upstreamName is the x-mcpguard-upstream value Envoy sends for a route:
// the most specific override among levels wins over the filter's own gRPC
// initial metadata.
func upstreamName(ep *extprocfilterv3.ExternalProcessor, levels []map[string]*anypb.Any) string {
	for _, tpfc := range levels {
		a := tpfc[FilterExtProc]
		if fc := (&routev3.FilterConfig{}); unpack(a, fc) {
			a = fc.GetConfig()
		}
		pr := &extprocfilterv3.ExtProcPerRoute{}
		if !unpack(a, pr) {
			continue
		}
		if n, ok := headerValue(pr.GetOverrides().GetGrpcInitialMetadata()); ok {
			return n
		}
	}
	n, _ := headerValue(ep.GetGrpcService().GetInitialMetadata())
	return n
}

func headerValue(hs []*corev3.HeaderValue) (string, bool) {
	for _, h := range hs {
		if strings.EqualFold(h.GetKey(), UpstreamMetadataKey) {
			if h.GetValue() != "" {
				return h.GetValue(), true
			}
			return string(h.GetRawValue()), true
		}
	}
	return "", false
}

func routeClusters(ra *routev3.RouteAction) []string {
	if c := ra.GetCluster(); c != "" {
		return []string{c}
	}
	var cs []string
	for _, w := range ra.GetWeightedClusters().GetClusters() {
		cs = append(cs, w.GetName())
	}
	return cs
}

// clusterSNI is the SNI a cluster's upstream TLS sends, or "".
func (v *checker) clusterSNI(name string) string {
	c, ok := v.clusters[name]
	if !ok {
		return ""
	}
	tls := &tlsv3.UpstreamTlsContext{}
	if !unpack(c.GetTransportSocket().GetTypedConfig(), tls) {
		return ""
	}
	return tls.GetSni()
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// is reports whether a holds a message of m's type.
func is(a *anypb.Any, m proto.Message) bool {
	return a != nil && a.MessageIs(m)
}

// unpack fills m from a when a holds m's type.
func unpack(a *anypb.Any, m proto.Message) bool {
	return is(a, m) && a.UnmarshalTo(m) == nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
