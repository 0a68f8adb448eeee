package envoy

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	overloadv3 "github.com/envoyproxy/go-control-plane/envoy/config/overload/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	jwtauthnv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	downstreamconnectionsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/downstream_connections/v3"
	fixedheapv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/fixed_heap/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/mcpguard/mcpguard/config"
)

// Defaults of BootstrapOptions.
const (
	DefaultListen          = "0.0.0.0:8080"
	DefaultAdminAddress    = "127.0.0.1:9901"
	DefaultMCPGuardAddress = "127.0.0.1:9002"
	DefaultUpstreamPort    = 443
	DefaultRoutePrefix     = "/mcp"
	DefaultCAFile          = "/etc/ssl/certs/ca-certificates.crt"
	// DefaultMaxHeapBytes is the heap Envoy's overload manager measures
	// against: set it below the container's memory limit.
	DefaultMaxHeapBytes = 1 << 30
	// DefaultMaxConnections caps downstream connections across listeners.
	DefaultMaxConnections = 50000
)

// Names of the resources Bootstrap generates. Operators see them in Envoy's
// stats and logs, so they are stable.
const (
	ListenerName       = "mcpguard_ingress"
	RouteConfigName    = "mcpguard_routes"
	ExtProcClusterName = "mcpguard_ext_proc"
	UpstreamCluster    = "mcp_upstream"
	JWKSClusterName    = "oidc_jwks"
	JWTProviderName    = "mcpguard_oidc"
)

// Settings of the ext_proc filter that follow from how mcpguard works; the
// validator enforces the security-relevant ones on any bootstrap.
const (
	// messageTimeout covers an STS round trip on a cold credential cache;
	// Envoy's default of 200 ms does not.
	messageTimeout = 5 * time.Second
	// maxMessageTimeout lets mcpguard extend one message's deadline with
	// override_message_timeout when STS is slow.
	maxMessageTimeout = 10 * time.Second
	// minBufferLimit is Envoy's own default per-connection buffer limit;
	// the generator never lowers it.
	minBufferLimit = 1 << 20
	// extProcMaxRequests bounds concurrent ext_proc streams per Envoy. Each
	// HTTP request, including a long-lived SSE stream, holds one, so
	// Envoy's default of 1024 would refuse requests (fail closed, 503)
	// long before mcpguard is saturated.
	extProcMaxRequests = 65536
)

// BootstrapOptions are the deployment facts a mcpguard configuration does
// not hold: where Envoy listens, where mcpguard runs, certificates.
type BootstrapOptions struct {
	// Listen is the host:port of Envoy's MCP listener. Default 0.0.0.0:8080.
	Listen string
	// AdminAddress is the host:port of Envoy's admin interface. Default
	// 127.0.0.1:9901: the admin interface can raise log levels and dump
	// configuration, so it stays on loopback.
	AdminAddress string
	// MCPGuardAddress is the host:port of mcpguard's gRPC server. Default
	// server.grpc_listen when it names a host that is not a wildcard,
	// otherwise 127.0.0.1 with its port. A DNS name (a Kubernetes Service)
	// makes Envoy balance ext_proc streams over every address it resolves.
	MCPGuardAddress string
	// TLSCertFile and TLSKeyFile, both or neither, are PEM file paths that
	// make the listener terminate TLS.
	TLSCertFile string
	TLSKeyFile  string
	// UpstreamPort is the port of the signed upstreams whose host has none.
	// Default 443.
	UpstreamPort int
	// UpstreamPlainHTTP drops upstream TLS. Only for tests that put a
	// plain HTTP server on loopback in place of AWS.
	UpstreamPlainHTTP bool
	// UpstreamAddress, when set, is the host:port every upstream cluster
	// connects to instead of its host (tests, VPC endpoints). The route
	// still rewrites Host to the signing host.
	UpstreamAddress string
	// RoutePrefix is the path prefix routed to the single upstream.
	// Default /mcp. Named upstreams are routed by /<name> instead.
	RoutePrefix string
	// JWTAuthn puts Envoy's jwt_authn filter before ext_proc. It is forced
	// on when oidc_config.token_source is envoy_metadata, and then
	// oidc_config.jwks_url is required: Envoy's remote_jwks fetches a JWKS
	// URI and does not perform OIDC discovery.
	JWTAuthn bool
	// CAFile is the PEM bundle that verifies upstream and JWKS servers.
	// Default /etc/ssl/certs/ca-certificates.crt.
	CAFile string
	// ExtProcClientCertFile and ExtProcClientKeyFile are the client
	// certificate Envoy presents to mcpguard. Required when the mcpguard
	// configuration has server.grpc_tls: mcpguard refuses any peer without
	// a certificate whose SAN it allows.
	ExtProcClientCertFile string
	ExtProcClientKeyFile  string
	// ExtProcCAFile is the PEM bundle that verifies mcpguard's server
	// certificate. Required with server.grpc_tls.
	ExtProcCAFile string
	// ExtProcServerName is the identity mcpguard's server certificate must
	// carry: a DNS name (also sent as SNI) or a spiffe:// ID (matched as a
	// URI SAN). Default the host of MCPGuardAddress when it is a DNS name.
	ExtProcServerName string
	// MaxHeapBytes is the heap size at which Envoy's overload manager
	// stops accepting requests (98%) after trying to shrink it (95%).
	// Default DefaultMaxHeapBytes; keep it below the memory limit so Envoy
	// sheds load instead of being OOM-killed with every stream at once.
	MaxHeapBytes uint64
	// MaxConnections caps downstream connections. Default
	// DefaultMaxConnections.
	MaxConnections int64
}

// upstreamRoute is one signed destination: a route, its cluster, and the
// name Envoy sends to mcpguard (empty for the single upstream).
type upstreamRoute struct {
	name    string // x-mcpguard-upstream value; "" for the single upstream
	prefix  string
	cluster string
	host    string // signing host, maybe with a port
}

// Bootstrap builds the complete Envoy bootstrap for cfg: one listener whose
// connection manager runs [jwt_authn,] ext_proc and the router; routes that
// rewrite Host to the signing host; TLS clusters for the upstreams with SNI
// and SAN verification; an HTTP/2 cluster for mcpguard. The result has
// passed protoc-gen-validate and every rule Validate applies; an error means
// cfg and o cannot produce a safe bootstrap.
func Bootstrap(cfg *config.Config, o BootstrapOptions) (*bootstrapv3.Bootstrap, error) {
	if cfg == nil {
		return nil, errors.New("generate bootstrap: no configuration")
	}
	if err := o.fill(cfg); err != nil {
		return nil, fmt.Errorf("generate bootstrap: %w", err)
	}
	jwt := o.JWTAuthn || cfg.OIDC.TokenSource == config.TokenSourceEnvoyMetadata
	ups, err := upstreamRoutes(cfg, o)
	if err != nil {
		return nil, fmt.Errorf("generate bootstrap: %w", err)
	}

	var clusters []*clusterv3.Cluster
	ext, err := extProcCluster(o.MCPGuardAddress, extProcTLS(cfg, o))
	if err != nil {
		return nil, fmt.Errorf("generate bootstrap: %w", err)
	}
	clusters = append(clusters, ext)
	for _, u := range ups {
		c, err := upstreamCluster(u, o)
		if err != nil {
			return nil, fmt.Errorf("generate bootstrap: %w", err)
		}
		clusters = append(clusters, c)
	}

	var filters []*hcmv3.HttpFilter
	if jwt {
		jf, jc, err := jwtAuthn(cfg, o)
		if err != nil {
			return nil, fmt.Errorf("generate bootstrap: %w", err)
		}
		filters = append(filters, jf)
		clusters = append(clusters, jc...)
	}
	filters = append(filters,
		httpFilter(FilterExtProc, ExtProcFilter(cfg)),
		httpFilter(FilterRouter, &routerv3.Router{SuppressEnvoyHeaders: true}),
	)

	ln, err := listener(cfg, o, filters, routeConfig(ups))
	if err != nil {
		return nil, fmt.Errorf("generate bootstrap: %w", err)
	}
	admin, err := socketAddress(o.AdminAddress)
	if err != nil {
		return nil, fmt.Errorf("generate bootstrap: admin address: %w", err)
	}
	b := &bootstrapv3.Bootstrap{
		Node:  &corev3.Node{Id: "mcpguard-envoy", Cluster: "mcpguard"},
		Admin: &bootstrapv3.Admin{Address: admin},
		StaticResources: &bootstrapv3.Bootstrap_StaticResources{
			Listeners: []*listenerv3.Listener{ln},
			Clusters:  clusters,
		},
		OverloadManager: overloadManager(o),
	}
	if err := validateTree(b); err != nil {
		return nil, fmt.Errorf("generate bootstrap: %w", err)
	}
	if ps := CheckBootstrap(b, ValidateOptions{Config: cfg, PlainUpstream: o.UpstreamPlainHTTP}); len(ps) > 0 {
		return nil, fmt.Errorf("generate bootstrap: %w", Problems(ps))
	}
	return b, nil
}

// fill applies the defaults and checks the options that are plain syntax.
func (o *BootstrapOptions) fill(cfg *config.Config) error {
	if o.Listen == "" {
		o.Listen = DefaultListen
	}
	if o.AdminAddress == "" {
		o.AdminAddress = DefaultAdminAddress
	}
	if o.MCPGuardAddress == "" && cfg.Server.GRPCSocket() != "" {
		o.MCPGuardAddress = cfg.Server.GRPCListen
	}
	if o.MCPGuardAddress == "" {
		o.MCPGuardAddress = DefaultMCPGuardAddress
		if host, port, err := net.SplitHostPort(cfg.Server.GRPCListen); err == nil {
			if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
				host = "127.0.0.1"
			}
			o.MCPGuardAddress = net.JoinHostPort(host, port)
		}
	}
	if o.UpstreamPort == 0 {
		o.UpstreamPort = DefaultUpstreamPort
	}
	if o.UpstreamPort < 1 || o.UpstreamPort > 65535 {
		return fmt.Errorf("upstream port %d is not between 1 and 65535", o.UpstreamPort)
	}
	if o.RoutePrefix == "" {
		o.RoutePrefix = DefaultRoutePrefix
	}
	if !strings.HasPrefix(o.RoutePrefix, "/") || strings.ContainsAny(o.RoutePrefix, "?#") {
		return fmt.Errorf("route prefix %q must start with / and hold no query or fragment", o.RoutePrefix)
	}
	if (o.TLSCertFile == "") != (o.TLSKeyFile == "") {
		return errors.New("listener TLS needs both a certificate and a key file")
	}
	if o.CAFile == "" {
		o.CAFile = DefaultCAFile
	}
	if o.MaxHeapBytes == 0 {
		o.MaxHeapBytes = DefaultMaxHeapBytes
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.MaxConnections < 0 {
		return fmt.Errorf("max connections %d is negative", o.MaxConnections)
	}
	if !cfg.Server.GRPCTLS.Enabled() {
		return nil
	}
	// mcpguard demands a client certificate: without one every stream
	// would fail at the handshake.
	if o.ExtProcClientCertFile == "" || o.ExtProcClientKeyFile == "" || o.ExtProcCAFile == "" {
		return errors.New("server.grpc_tls is set: Envoy needs a client certificate and key for the ext_proc cluster and the CA of mcpguard's server certificate (--mcpguard-client-cert, --mcpguard-client-key, --mcpguard-ca)")
	}
	if o.ExtProcServerName == "" {
		host, _, err := splitHostPort(o.MCPGuardAddress, 0)
		if err != nil || net.ParseIP(host) != nil || strings.HasPrefix(o.MCPGuardAddress, "unix://") {
			return errors.New("server.grpc_tls is set: name the identity in mcpguard's server certificate (--mcpguard-server-name), since the mcpguard address is not a DNS name")
		}
		o.ExtProcServerName = host
	}
	return nil
}

// upstreamRoutes lists the signed destinations. With named upstreams every
// route carries its name, and the single upstream gets no route: mcpguard
// refuses a request that names no upstream when several are configured, so
// a nameless route could only fail.
func upstreamRoutes(cfg *config.Config, o BootstrapOptions) ([]upstreamRoute, error) {
	if len(cfg.Upstreams) == 0 {
		if cfg.Upstream.Host == "" {
			return nil, errors.New("upstream.host is empty")
		}
		return []upstreamRoute{{prefix: o.RoutePrefix, cluster: UpstreamCluster, host: cfg.Upstream.Host}}, nil
	}
	ups := make([]upstreamRoute, 0, len(cfg.Upstreams))
	for i, u := range cfg.Upstreams {
		// The router may not rewrite the path: it would do so after
		// mcpguard signed it. mcpguard sets :path to the upstream's path
		// and signs that, so the path must be known.
		if u.Path == "" {
			return nil, fmt.Errorf("upstreams[%d] (%s): path is required: Envoy routes /%s to it, and mcpguard must set and sign the upstream path because a router rewrite after signing would break the signature", i, u.Name, u.Name)
		}
		ups = append(ups, upstreamRoute{name: u.Name, prefix: "/" + u.Name, cluster: UpstreamCluster + "_" + u.Name, host: u.Host})
	}
	return ups, nil
}

func routeConfig(ups []upstreamRoute) *routev3.RouteConfiguration {
	routes := []*routev3.Route{{
		// mcpguard answers RFC 9728 metadata requests itself; should it
		// not, nothing is forwarded.
		Name:  "oauth_protected_resource",
		Match: pathPrefix(MetadataPath),
		Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{
			Status: 404,
		}},
	}}
	for _, u := range ups {
		name := "mcp"
		if u.name != "" {
			name = "upstream_" + u.name
		}
		r := &routev3.Route{
			Name:  name,
			Match: pathPrefix(u.prefix),
			Action: &routev3.Route_Route{Route: &routev3.RouteAction{
				ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: u.cluster},
				// mcpguard signs this host; ext_proc cannot set Host, the
				// router does after the filters ran.
				HostRewriteSpecifier: &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: u.host},
				// MCP responses may be SSE streams of any length, and
				// quiet for longer than the connection manager's
				// stream_idle_timeout between events.
				Timeout:     durationpb.New(0),
				IdleTimeout: durationpb.New(0),
			}},
		}
		if u.name != "" {
			r.TypedPerFilterConfig = map[string]*anypb.Any{
				FilterExtProc: mustAny(&extprocfilterv3.ExtProcPerRoute{
					Override: &extprocfilterv3.ExtProcPerRoute_Overrides{Overrides: &extprocfilterv3.ExtProcOverrides{
						GrpcInitialMetadata: []*corev3.HeaderValue{{Key: UpstreamMetadataKey, Value: u.name}},
					}},
				}),
			}
		}
		routes = append(routes, r)
	}
	return &routev3.RouteConfiguration{
		Name: RouteConfigName,
		VirtualHosts: []*routev3.VirtualHost{{
			Name:    "mcp",
			Domains: []string{"*"},
			Routes:  routes,
		}},
	}
}

// pathPrefix matches p and everything below it at a segment boundary, so
// /mcp does not also match /mcpx.
func pathPrefix(p string) *routev3.RouteMatch {
	p = strings.TrimRight(p, "/")
	if p == "" {
		return &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}
	}
	return &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: p}}
}

// jwtSource is one jwt_authn provider: an issuer Envoy verifies, the key
// set cluster it fetches keys through, and where it puts the payload.
type jwtSource struct {
	provider, cluster, where string
	issuer, jwksURL, payload string
	audiences                []string
	skew                     time.Duration
}

// jwtSources lists the jwt_authn providers of cfg: the one oidc_config
// issuer, or one per oidc_providers entry and, for an Entra tenant
// template, one per allowed tenant (jwt_authn matches iss exactly). A
// provider's tenants share its JWKS cluster and payload key; no two
// oidc_providers entries share either, so a payload found under a
// provider's key was verified with that provider's keys.
func jwtSources(cfg *config.Config) []jwtSource {
	if !cfg.HasProviders() {
		payload := cfg.OIDC.MetadataKey
		if payload == "" {
			payload = "jwt_payload"
		}
		return []jwtSource{{
			provider: JWTProviderName, cluster: JWKSClusterName, where: "oidc_config.jwks_url",
			issuer: cfg.OIDC.Issuer, jwksURL: cfg.OIDC.JWKSURL, payload: payload,
			audiences: cfg.OIDC.Audiences, skew: cfg.OIDC.ClockSkew,
		}}
	}
	var out []jwtSource
	for i, p := range cfg.OIDCProviders {
		src := jwtSource{
			provider: JWTProviderName + "_" + p.Name, cluster: JWKSClusterName + "_" + p.Name,
			where:  fmt.Sprintf("oidc_providers[%d].jwks_url", i),
			issuer: p.Issuer, jwksURL: p.JWKSURL, payload: cfg.ProviderMetadataKey(p.Name),
			audiences: p.Audiences, skew: p.ClockSkew,
		}
		if !strings.Contains(p.Issuer, config.TenantPlaceholder) {
			out = append(out, src)
			continue
		}
		for _, t := range p.Tenants {
			ts := src
			ts.provider = src.provider + "_" + t
			ts.issuer = strings.ReplaceAll(p.Issuer, config.TenantPlaceholder, t)
			out = append(out, ts)
		}
	}
	return out
}

// jwksCluster is the cluster through which Envoy fetches the key set at
// jwksURL.
func jwksCluster(name, where, jwksURL string, o BootstrapOptions) (*clusterv3.Cluster, error) {
	u, err := url.Parse(jwksURL)
	if err != nil || u.Hostname() == "" {
		return nil, fmt.Errorf("%s %q is not an absolute URL", where, jwksURL)
	}
	tls := u.Scheme == "https"
	port := 80
	if tls {
		port = 443
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil || port < 1 || port > 65535 {
			return nil, fmt.Errorf("%s port %q must be a number from 1 to 65535", where, p)
		}
	}
	c := &clusterv3.Cluster{
		Name:           name,
		ConnectTimeout: durationpb.New(5 * time.Second),
		LoadAssignment: loadAssignment(name, u.Hostname(), u.Hostname(), port),
	}
	setDiscovery(c, u.Hostname(), clusterv3.Cluster_LOGICAL_DNS)
	if tls {
		c.TransportSocket = transportSocket(upstreamTLS(u.Hostname(), o.CAFile, nil))
	}
	return c, nil
}

func jwtAuthn(cfg *config.Config, o BootstrapOptions) (*hcmv3.HttpFilter, []*clusterv3.Cluster, error) {
	srcs := jwtSources(cfg)
	ja := &jwtauthnv3.JwtAuthentication{Providers: map[string]*jwtauthnv3.JwtProvider{}}
	var clusters []*clusterv3.Cluster
	var names []string
	for _, src := range srcs {
		if src.jwksURL == "" {
			return nil, nil, fmt.Errorf("%s is required for Envoy's jwt_authn filter (Envoy fetches a JWKS URI and does not perform OIDC discovery)", src.where)
		}
		if !slices.ContainsFunc(clusters, func(c *clusterv3.Cluster) bool { return c.GetName() == src.cluster }) {
			c, err := jwksCluster(src.cluster, src.where, src.jwksURL, o)
			if err != nil {
				return nil, nil, err
			}
			clusters = append(clusters, c)
		}
		names = append(names, src.provider)
		ja.Providers[src.provider] = &jwtauthnv3.JwtProvider{
			Issuer:    src.issuer,
			Audiences: src.audiences,
			// mcpguard needs the token itself: STS AssumeRoleWithWebIdentity
			// takes the signed JWT, not its claims. mcpguard overwrites
			// Authorization with the SigV4 value, so the token never
			// reaches AWS.
			Forward:           true,
			PayloadInMetadata: src.payload,
			ClockSkewSeconds:  uint32(src.skew / time.Second), //nolint:gosec // config validation bounds clock_skew to 0–5m
			JwksSourceSpecifier: &jwtauthnv3.JwtProvider_RemoteJwks{RemoteJwks: &jwtauthnv3.RemoteJwks{
				HttpUri: &corev3.HttpUri{
					Uri:              src.jwksURL,
					HttpUpstreamType: &corev3.HttpUri_Cluster{Cluster: src.cluster},
					Timeout:          durationpb.New(5 * time.Second),
				},
				CacheDuration: durationpb.New(5 * time.Minute),
				AsyncFetch:    &jwtauthnv3.JwksAsyncFetch{},
			}},
		}
	}
	req := &jwtauthnv3.JwtRequirement{RequiresType: &jwtauthnv3.JwtRequirement_ProviderName{ProviderName: names[0]}}
	if len(names) > 1 {
		// Any one provider verifying the token is enough; the others'
		// failures (wrong issuer, unknown key) are expected.
		anyOf := &jwtauthnv3.JwtRequirementOrList{}
		for _, n := range names {
			anyOf.Requirements = append(anyOf.Requirements, &jwtauthnv3.JwtRequirement{
				RequiresType: &jwtauthnv3.JwtRequirement_ProviderName{ProviderName: n},
			})
		}
		req = &jwtauthnv3.JwtRequirement{RequiresType: &jwtauthnv3.JwtRequirement_RequiresAny{RequiresAny: anyOf}}
	}
	ja.Rules = []*jwtauthnv3.RequirementRule{
		// Clients fetch the metadata that tells them where to log in
		// before they have a token.
		{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: MetadataPath}}},
		{
			Match:           &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
			RequirementType: &jwtauthnv3.RequirementRule_Requires{Requires: req},
		},
	}
	return httpFilter(FilterJWTAuthn, ja), clusters, nil
}

func listener(cfg *config.Config, o BootstrapOptions, filters []*hcmv3.HttpFilter, rc *routev3.RouteConfiguration) (*listenerv3.Listener, error) {
	addr, err := socketAddress(o.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen address: %w", err)
	}
	hcm := &hcmv3.HttpConnectionManager{
		CodecType:      hcmv3.HttpConnectionManager_AUTO,
		StatPrefix:     "mcpguard",
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: rc},
		HttpFilters:    filters,
		// Envoy is the edge: the peer address is the client, and
		// x-request-id is generated here, not trusted from the client.
		UseRemoteAddress: wrapperspb.Bool(true),
		// mcpguard authorizes and signs the path Envoy forwards: Envoy
		// normalizes it (RFC 3986 dot segments, merged slashes) before
		// any filter runs, and refuses %2F and %5C outright, so the path
		// ext_proc sees is the one the router matches and forwards.
		NormalizePath:                wrapperspb.Bool(true),
		MergeSlashes:                 true,
		PathWithEscapedSlashesAction: hcmv3.HttpConnectionManager_REJECT_REQUEST,
		// Envoy's edge-proxy settings. x_amz_date and x-amz-date are one
		// header to some readers and two to others: refuse the spelling
		// instead of letting mcpguard and the upstream disagree.
		CommonHttpProtocolOptions: &corev3.HttpProtocolOptions{
			HeadersWithUnderscoresAction: corev3.HttpProtocolOptions_REJECT_REQUEST,
			IdleTimeout:                  durationpb.New(time.Hour),
		},
		Http2ProtocolOptions: &corev3.Http2ProtocolOptions{
			MaxConcurrentStreams:        wrapperspb.UInt32(100),
			InitialStreamWindowSize:     wrapperspb.UInt32(64 << 10),
			InitialConnectionWindowSize: wrapperspb.UInt32(1 << 20),
		},
		RequestHeadersTimeout: durationpb.New(10 * time.Second),
		// The default access log format holds no Authorization or
		// x-amz-* header.
		AccessLog: []*accesslogv3.AccessLog{{
			Name:       "envoy.access_loggers.stdout",
			ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: mustAny(&streamv3.StdoutAccessLog{})},
		}},
	}
	// BUFFERED bodies above the buffer limit get 413 from Envoy; mcpguard
	// must be the one that decides up to its own limit.
	limit, err := BufferLimit(cfg)
	if err != nil {
		return nil, err
	}
	fc := &listenerv3.FilterChain{
		Filters: []*listenerv3.Filter{{
			Name:       FilterHCM,
			ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(hcm)},
		}},
	}
	if o.TLSCertFile != "" {
		fc.TransportSocket = transportSocket(&tlsv3.DownstreamTlsContext{
			CommonTlsContext: &tlsv3.CommonTlsContext{
				TlsParams:     &tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_2},
				AlpnProtocols: []string{"h2", "http/1.1"},
				TlsCertificates: []*tlsv3.TlsCertificate{{
					CertificateChain: fileSource(o.TLSCertFile),
					PrivateKey:       fileSource(o.TLSKeyFile),
				}},
			},
		})
	}
	return &listenerv3.Listener{
		Name:                          ListenerName,
		Address:                       addr,
		PerConnectionBufferLimitBytes: wrapperspb.UInt32(limit),
		FilterChains:                  []*listenerv3.FilterChain{fc},
	}, nil
}

// overloadManager sheds load before Envoy runs out of memory or file
// descriptors: it shrinks the heap at 95% of MaxHeapBytes, refuses new
// requests at 98%, and caps downstream connections.
func overloadManager(o BootstrapOptions) *overloadv3.OverloadManager {
	const heap = "envoy.resource_monitors.fixed_heap"
	trigger := func(v float64) []*overloadv3.Trigger {
		return []*overloadv3.Trigger{{Name: heap, TriggerOneof: &overloadv3.Trigger_Threshold{Threshold: &overloadv3.ThresholdTrigger{Value: v}}}}
	}
	return &overloadv3.OverloadManager{
		RefreshInterval: durationpb.New(250 * time.Millisecond),
		ResourceMonitors: []*overloadv3.ResourceMonitor{
			{Name: heap, ConfigType: &overloadv3.ResourceMonitor_TypedConfig{TypedConfig: mustAny(&fixedheapv3.FixedHeapConfig{MaxHeapSizeBytes: o.MaxHeapBytes})}},
			{Name: "envoy.resource_monitors.global_downstream_max_connections", ConfigType: &overloadv3.ResourceMonitor_TypedConfig{TypedConfig: mustAny(&downstreamconnectionsv3.DownstreamConnectionsConfig{MaxActiveDownstreamConnections: o.MaxConnections})}},
		},
		Actions: []*overloadv3.OverloadAction{
			{Name: "envoy.overload_actions.shrink_heap", Triggers: trigger(0.95)},
			{Name: "envoy.overload_actions.stop_accepting_requests", Triggers: trigger(0.98)},
		},
	}
}

// extProcTLS is the ext_proc cluster's side of server.grpc_tls: Envoy
// presents its client certificate and accepts only mcpguard's server
// certificate, by SAN, under the given CA. ALPN h2 is required: gRPC
// servers refuse TLS connections that negotiate no protocol. Nil when
// mcpguard's listener is not TLS.
func extProcTLS(cfg *config.Config, o BootstrapOptions) *tlsv3.UpstreamTlsContext {
	if !cfg.Server.GRPCTLS.Enabled() {
		return nil
	}
	san := &tlsv3.SubjectAltNameMatcher{
		SanType: tlsv3.SubjectAltNameMatcher_DNS,
		Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: o.ExtProcServerName}},
	}
	sni := o.ExtProcServerName
	if strings.HasPrefix(o.ExtProcServerName, "spiffe://") {
		san.SanType, sni = tlsv3.SubjectAltNameMatcher_URI, ""
	}
	return &tlsv3.UpstreamTlsContext{
		Sni: sni,
		CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsParams:     &tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_2},
			AlpnProtocols: []string{"h2"},
			TlsCertificates: []*tlsv3.TlsCertificate{{
				CertificateChain: fileSource(o.ExtProcClientCertFile),
				PrivateKey:       fileSource(o.ExtProcClientKeyFile),
			}},
			ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
				TrustedCa:                 fileSource(o.ExtProcCAFile),
				MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{san},
			}},
		},
	}
}

// extProcCluster reaches mcpguard over HTTP/2 (gRPC), health-checks it with
// the gRPC health protocol and keeps connections alive with pings. addr is
// host:port or unix:///path (a pipe address); tls, when set, is the
// cluster's transport socket.
func extProcCluster(addr string, tls *tlsv3.UpstreamTlsContext) (*clusterv3.Cluster, error) {
	var (
		host string
		port int
		err  error
		pipe = strings.TrimPrefix(addr, "unix://")
	)
	if pipe == addr {
		pipe = ""
		if host, port, err = splitHostPort(addr, 0); err != nil {
			return nil, fmt.Errorf("mcpguard address: %w", err)
		}
	} else if !strings.HasPrefix(pipe, "/") {
		return nil, fmt.Errorf("mcpguard address %q: a Unix socket needs an absolute path", addr)
	}
	c := &clusterv3.Cluster{
		Name:           ExtProcClusterName,
		ConnectTimeout: durationpb.New(time.Second),
		LbPolicy:       clusterv3.Cluster_ROUND_ROBIN,
		TypedExtensionProtocolOptions: map[string]*anypb.Any{
			HTTPProtocolOptionsKey: mustAny(&httpv3.HttpProtocolOptions{
				UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
					ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{
						ConnectionKeepalive: &corev3.KeepaliveSettings{
							Interval: durationpb.New(30 * time.Second),
							Timeout:  durationpb.New(5 * time.Second),
						},
					}},
				}},
			}),
		},
		CircuitBreakers: &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{
			MaxRequests: wrapperspb.UInt32(extProcMaxRequests),
		}}},
		HealthChecks: []*corev3.HealthCheck{{
			Timeout:            durationpb.New(time.Second),
			Interval:           durationpb.New(5 * time.Second),
			UnhealthyThreshold: wrapperspb.UInt32(2),
			HealthyThreshold:   wrapperspb.UInt32(1),
			HealthChecker: &corev3.HealthCheck_GrpcHealthCheck_{GrpcHealthCheck: &corev3.HealthCheck_GrpcHealthCheck{
				ServiceName: ExtProcServiceName,
			}},
		}},
		LoadAssignment: loadAssignment(ExtProcClusterName, "", host, port),
	}
	if pipe != "" {
		c.LoadAssignment.Endpoints[0].LbEndpoints[0].GetEndpoint().Address = &corev3.Address{
			Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: pipe}},
		}
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}
	} else {
		// Every replica behind a DNS name gets streams, not just the first.
		setDiscovery(c, host, clusterv3.Cluster_STRICT_DNS)
	}
	if tls != nil {
		c.TransportSocket = transportSocket(tls)
	}
	return c, nil
}

// upstreamCluster connects to one signed upstream: TLS with the AWS host as
// SNI and as the only accepted certificate name.
func upstreamCluster(u upstreamRoute, o BootstrapOptions) (*clusterv3.Cluster, error) {
	host, port, err := splitHostPort(u.host, o.UpstreamPort)
	if err != nil {
		return nil, fmt.Errorf("upstream host %q: %w", u.host, err)
	}
	dialHost, dialPort := host, port
	if o.UpstreamAddress != "" {
		if dialHost, dialPort, err = splitHostPort(o.UpstreamAddress, 0); err != nil {
			return nil, fmt.Errorf("upstream address: %w", err)
		}
	}
	c := &clusterv3.Cluster{
		Name:            u.cluster,
		ConnectTimeout:  durationpb.New(5 * time.Second),
		DnsLookupFamily: clusterv3.Cluster_V4_PREFERRED,
		LoadAssignment:  loadAssignment(u.cluster, host, dialHost, dialPort),
	}
	setDiscovery(c, dialHost, clusterv3.Cluster_LOGICAL_DNS)
	if o.UpstreamPlainHTTP {
		c.TypedExtensionProtocolOptions = map[string]*anypb.Any{
			HTTPProtocolOptionsKey: mustAny(&httpv3.HttpProtocolOptions{
				UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
					ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions{HttpProtocolOptions: &corev3.Http1ProtocolOptions{}},
				}},
			}),
		}
		return c, nil
	}
	c.TypedExtensionProtocolOptions = map[string]*anypb.Any{
		HTTPProtocolOptionsKey: mustAny(&httpv3.HttpProtocolOptions{
			UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_AutoConfig{AutoConfig: &httpv3.HttpProtocolOptions_AutoHttpConfig{
				HttpProtocolOptions:  &corev3.Http1ProtocolOptions{},
				Http2ProtocolOptions: &corev3.Http2ProtocolOptions{},
			}},
		}),
	}
	c.TransportSocket = transportSocket(upstreamTLS(host, o.CAFile, []string{"h2", "http/1.1"}))
	return c, nil
}

func upstreamTLS(host, caFile string, alpn []string) *tlsv3.UpstreamTlsContext {
	return &tlsv3.UpstreamTlsContext{
		Sni: host,
		CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsParams:     &tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_2},
			AlpnProtocols: alpn,
			ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
				TrustedCa: fileSource(caFile),
				MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
					SanType: tlsv3.SubjectAltNameMatcher_DNS,
					Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: host}},
				}},
			}},
		},
	}
}

// setDiscovery makes c STATIC for an IP address and dnsType otherwise.
func setDiscovery(c *clusterv3.Cluster, host string, dnsType clusterv3.Cluster_DiscoveryType) {
	t := dnsType
	if net.ParseIP(host) != nil {
		t = clusterv3.Cluster_STATIC
	}
	c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: t}
}

func loadAssignment(cluster, hostname, host string, port int) *endpointv3.ClusterLoadAssignment {
	return &endpointv3.ClusterLoadAssignment{
		ClusterName: cluster,
		Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
					Address:  tcpAddress(host, port),
					Hostname: hostname,
				}},
			}},
		}},
	}
}

func socketAddress(hostport string) (*corev3.Address, error) {
	host, port, err := splitHostPort(hostport, 0)
	if err != nil {
		return nil, err
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return tcpAddress(host, port), nil
}

func tcpAddress(host string, port int) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Protocol:      corev3.SocketAddress_TCP,
		Address:       host,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(port)}, //nolint:gosec // every caller checks 0–65535
	}}}
}

// splitHostPort splits host[:port]; defPort 0 makes the port required.
func splitHostPort(s string, defPort int) (string, int, error) {
	host, portText, err := net.SplitHostPort(s)
	if err != nil {
		if defPort == 0 {
			return "", 0, fmt.Errorf("%q is not host:port", s)
		}
		return strings.Trim(s, "[]"), defPort, nil
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%q: port must be a number from 0 to 65535", s)
	}
	return host, port, nil
}

func httpFilter(name string, m proto.Message) *hcmv3.HttpFilter {
	return &hcmv3.HttpFilter{Name: name, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(m)}}
}

func transportSocket(m proto.Message) *corev3.TransportSocket {
	return &corev3.TransportSocket{Name: TransportSocketTLS, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(m)}}
}

func fileSource(path string) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: path}}
}

// mustAny packs a message built in this package. Marshalling a generated
// message the package just built cannot fail short of a protobuf bug.
// Deterministic, so a config with maps (several jwt_authn providers)
// packs to the same bytes every time, as protojson does when it parses.
func mustAny(m proto.Message) *anypb.Any {
	a := &anypb.Any{}
	if err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true}); err != nil {
		panic(fmt.Sprintf("pack %T: %v", m, err))
	}
	return a
}

// RegisterFlags binds the options an operator sets on the command line to
// fs, with the defaults shown in help. The options meant for tests only
// (plain HTTP upstreams, address overrides) have no flag.
func (o *BootstrapOptions) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.TLSCertFile, "tls-cert", "", "PEM certificate chain file the listener serves (with --tls-key)")
	fs.StringVar(&o.TLSKeyFile, "tls-key", "", "PEM private key file of --tls-cert")
	fs.StringVar(&o.Listen, "listen", DefaultListen, "host:port Envoy listens on for MCP clients")
	fs.StringVar(&o.MCPGuardAddress, "mcpguard-address", "", "host:port or unix:///path of mcpguard's gRPC server (default server.grpc_listen, with 127.0.0.1 for a wildcard host)")
	fs.StringVar(&o.AdminAddress, "admin-address", DefaultAdminAddress, "host:port of Envoy's admin interface")
	fs.StringVar(&o.RoutePrefix, "route-prefix", DefaultRoutePrefix, "path prefix routed to the single upstream")
	fs.StringVar(&o.CAFile, "ca-file", DefaultCAFile, "PEM CA bundle that verifies the upstream and JWKS servers")
	fs.IntVar(&o.UpstreamPort, "upstream-port", DefaultUpstreamPort, "port of upstream hosts that name none")
	fs.StringVar(&o.ExtProcClientCertFile, "mcpguard-client-cert", "", "PEM client certificate Envoy presents to mcpguard (required with server.grpc_tls)")
	fs.StringVar(&o.ExtProcClientKeyFile, "mcpguard-client-key", "", "PEM private key of --mcpguard-client-cert")
	fs.StringVar(&o.ExtProcCAFile, "mcpguard-ca", "", "PEM CA bundle that verifies mcpguard's server certificate (required with server.grpc_tls)")
	fs.StringVar(&o.ExtProcServerName, "mcpguard-server-name", "", "DNS name or spiffe:// ID in mcpguard's server certificate (default the --mcpguard-address host)")
	fs.Uint64Var(&o.MaxHeapBytes, "max-heap-bytes", DefaultMaxHeapBytes, "heap size at which Envoy's overload manager sheds load; keep it below the container's memory limit")
	fs.BoolVar(&o.JWTAuthn, "jwt-authn", false, "verify JWTs in Envoy's jwt_authn filter too (always on with token_source: envoy_metadata)")
}
