package envoy

import (
	// Types that may appear in a typed_config of an mcpguard deployment.
	// Registering them lets protojson resolve every google.protobuf.Any when
	// a bootstrap is parsed; an Any of a type not listed here is reported
	// as unresolvable instead of being skipped.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/aws_request_signing/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/buffer/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/health_check/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/upstream_codec/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/request_id/uuid/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/downstream_connections/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/fixed_heap/v3"
)

// Well-known Envoy extension names. Envoy selects an extension by the type
// of its typed_config; the names are what operators read in logs and stats
// and what Istio EnvoyFilter patches match on.
const (
	// FilterExtProc is the ext_proc HTTP filter, and the key of its
	// per-route configuration.
	FilterExtProc = "envoy.filters.http.ext_proc"
	// FilterJWTAuthn is the jwt_authn HTTP filter; it is also the
	// dynamic metadata namespace where it writes verified payloads.
	FilterJWTAuthn = "envoy.filters.http.jwt_authn"
	// FilterRouter is the terminal HTTP filter.
	FilterRouter = "envoy.filters.http.router"
	// FilterHCM is the HTTP connection manager network filter.
	FilterHCM = "envoy.filters.network.http_connection_manager"
	// TransportSocketTLS names both upstream and downstream TLS sockets.
	TransportSocketTLS = "envoy.transport_sockets.tls"
	// HTTPProtocolOptionsKey is the typed_extension_protocol_options key
	// of a cluster's HTTP settings (HTTP/2 for the gRPC cluster).
	HTTPProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
	// UpstreamMetadataKey is the gRPC initial metadata key a route sets
	// (ExtProcPerRoute.overrides.grpc_initial_metadata) to tell mcpguard
	// which named upstream the request goes to.
	UpstreamMetadataKey = "x-mcpguard-upstream"
	// ExtProcServiceName is the gRPC service mcpguard serves and reports
	// health for.
	ExtProcServiceName = "envoy.service.ext_proc.v3.ExternalProcessor"
	// ExtProcAuthority is the :authority of Envoy's ext_proc streams.
	// Without it Envoy sends the cluster name, and Istio's cluster names
	// (outbound|9002||host) hold "|", which strict HTTP/2 peers refuse.
	ExtProcAuthority = "mcpguard"
	// MetadataPath is where mcpguard answers RFC 9728 protected resource
	// metadata requests; the route to it needs no token.
	MetadataPath = "/.well-known/oauth-protected-resource"
)
