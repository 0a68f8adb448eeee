package envoy_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	jwtauthnv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/proto"

	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/envoy"
)

var update = flag.Bool("update", false, "rewrite the golden bootstraps in testdata/golden")

func loadConfig(t testing.TB, name string) *config.Config {
	t.Helper()
	cfg, err := config.Load(filepath.Join("testdata", "configs", name))
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return cfg
}

var generatorCases = []struct {
	name   string
	config string
	opts   envoy.BootstrapOptions
}{
	{"eu", "eu.yaml", envoy.BootstrapOptions{}},
	{"upstreams_tls", "upstreams.yaml", envoy.BootstrapOptions{TLSCertFile: "/etc/envoy/tls/tls.crt", TLSKeyFile: "/etc/envoy/tls/tls.key"}},
	{"metadata", "metadata.yaml", envoy.BootstrapOptions{}},
	{"providers", "providers.yaml", envoy.BootstrapOptions{}},
	{"mtls", "mtls.yaml", envoy.BootstrapOptions{
		MCPGuardAddress:       "mcpguard.mcpguard.svc.cluster.local:9002",
		ExtProcClientCertFile: "/etc/envoy/mcpguard-client/tls.crt",
		ExtProcClientKeyFile:  "/etc/envoy/mcpguard-client/tls.key",
		ExtProcCAFile:         "/etc/envoy/mcpguard-client/ca.crt",
	}},
	{"custom_port", "tls.yaml", envoy.BootstrapOptions{Listen: "[::]:8443", RoutePrefix: "/"}},
	{"loopback", "eu.yaml", envoy.BootstrapOptions{
		Listen: "127.0.0.1:18000", MCPGuardAddress: "127.0.0.1:19002",
		UpstreamPlainHTTP: true, UpstreamAddress: "127.0.0.1:18080",
	}},
}

// The generated bootstrap is stable (golden), survives a YAML round trip
// unchanged, and passes Envoy's API validation and every mcpguard rule,
// with and without the configuration at hand.
func TestBootstrapGolden(t *testing.T) {
	for _, tc := range generatorCases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := loadConfig(t, tc.config)
			b, err := envoy.Bootstrap(cfg, tc.opts)
			if err != nil {
				t.Fatalf("Bootstrap: %v", err)
			}
			y, err := envoy.MarshalYAML(b)
			if err != nil {
				t.Fatalf("MarshalYAML: %v", err)
			}
			golden := filepath.Join("testdata", "golden", tc.name+".yaml")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, y, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (run with -update): %v", err)
			}
			if !bytes.Equal(y, want) {
				t.Errorf("bootstrap differs from %s (run with -update to accept):\n%s", golden, y)
			}
			again, err := envoy.MarshalYAML(b)
			if err != nil || !bytes.Equal(again, y) {
				t.Error("MarshalYAML is not deterministic")
			}
			parsed, err := envoy.ParseBootstrap(y)
			if err != nil {
				t.Fatalf("ParseBootstrap(generated): %v", err)
			}
			if !proto.Equal(parsed, b) {
				t.Error("YAML round trip changed the bootstrap")
			}
			for _, o := range []envoy.ValidateOptions{{PlainUpstream: tc.opts.UpstreamPlainHTTP}, {Config: cfg, PlainUpstream: tc.opts.UpstreamPlainHTTP}} {
				ps, err := envoy.Validate(y, o)
				if err != nil || len(ps) > 0 {
					t.Errorf("Validate(generated, config %v): %v %v", o.Config != nil, err, ps)
				}
			}
		})
	}
}

// parts digs the pieces tests look at out of a generated bootstrap.
type parts struct {
	hcm      *hcmv3.HttpConnectionManager
	extProc  *extprocfilterv3.ExternalProcessor
	jwt      *jwtauthnv3.JwtAuthentication
	filters  []string
	routes   map[string]*routev3.Route
	clusters map[string]*clusterv3.Cluster
}

func dig(t *testing.T, b *bootstrapv3.Bootstrap) parts {
	t.Helper()
	p := parts{hcm: &hcmv3.HttpConnectionManager{}, routes: map[string]*routev3.Route{}, clusters: map[string]*clusterv3.Cluster{}}
	ls := b.GetStaticResources().GetListeners()
	if len(ls) != 1 {
		t.Fatalf("%d listeners", len(ls))
	}
	if err := ls[0].GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(p.hcm); err != nil {
		t.Fatal(err)
	}
	for _, f := range p.hcm.GetHttpFilters() {
		p.filters = append(p.filters, f.GetName())
		switch f.GetName() {
		case envoy.FilterExtProc:
			p.extProc = &extprocfilterv3.ExternalProcessor{}
			if err := f.GetTypedConfig().UnmarshalTo(p.extProc); err != nil {
				t.Fatal(err)
			}
		case envoy.FilterJWTAuthn:
			p.jwt = &jwtauthnv3.JwtAuthentication{}
			if err := f.GetTypedConfig().UnmarshalTo(p.jwt); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, r := range p.hcm.GetRouteConfig().GetVirtualHosts()[0].GetRoutes() {
		p.routes[r.GetName()] = r
	}
	for _, c := range b.GetStaticResources().GetClusters() {
		p.clusters[c.GetName()] = c
	}
	return p
}

func TestBootstrapSingleUpstream(t *testing.T) {
	cfg := loadConfig(t, "tls.yaml")
	b, err := envoy.Bootstrap(cfg, envoy.BootstrapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := dig(t, b)
	if strings.Join(p.filters, ",") != envoy.FilterExtProc+","+envoy.FilterRouter {
		t.Errorf("filters %v", p.filters)
	}
	ep := p.extProc
	pm := ep.GetProcessingMode()
	if ep.GetFailureModeAllow() || pm.GetRequestHeaderMode() != extprocfilterv3.ProcessingMode_SEND ||
		pm.GetRequestBodyMode() != extprocfilterv3.ProcessingMode_BUFFERED || pm.GetResponseHeaderMode() != extprocfilterv3.ProcessingMode_SEND ||
		pm.GetResponseBodyMode() != extprocfilterv3.ProcessingMode_NONE || !ep.GetAllowModeOverride() ||
		ep.GetMessageTimeout().AsDuration().String() != "5s" || ep.GetMaxMessageTimeout().AsDuration().String() != "10s" ||
		ep.GetRouteCacheAction() != extprocfilterv3.ExternalProcessor_RETAIN || !ep.GetMutationRules().GetDisallowIsError().GetValue() ||
		strings.Join(ep.GetRequestAttributes(), ",") != "source.address,request.id" || ep.GetMetadataOptions() != nil {
		t.Errorf("ext_proc config %v", ep)
	}
	r := p.routes["mcp"].GetRoute()
	if r.GetHostRewriteLiteral() != "mcp.internal.example.com:8443" || r.GetTimeout().AsDuration() != 0 || r.GetTimeout() == nil ||
		r.GetPrefixRewrite() != "" || p.routes["mcp"].GetMatch().GetPathSeparatedPrefix() != "/mcp" {
		t.Errorf("route %v", p.routes["mcp"])
	}
	if got := b.GetStaticResources().GetListeners()[0].GetPerConnectionBufferLimitBytes().GetValue(); got != 4<<20 {
		t.Errorf("buffer limit %d, want server.max_request_body_bytes", got)
	}
	up := p.clusters[envoy.UpstreamCluster]
	tls := &tlsv3.UpstreamTlsContext{}
	if err := up.GetTransportSocket().GetTypedConfig().UnmarshalTo(tls); err != nil {
		t.Fatal(err)
	}
	san := tls.GetCommonTlsContext().GetValidationContext().GetMatchTypedSubjectAltNames()
	if tls.GetSni() != "mcp.internal.example.com" || len(san) != 1 || san[0].GetMatcher().GetExact() != "mcp.internal.example.com" ||
		san[0].GetSanType() != tlsv3.SubjectAltNameMatcher_DNS || tls.GetCommonTlsContext().GetValidationContext().GetTrustedCa().GetFilename() != envoy.DefaultCAFile {
		t.Errorf("upstream TLS %v", tls)
	}
	addr := up.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
	if addr.GetAddress() != "mcp.internal.example.com" || addr.GetPortValue() != 8443 {
		t.Errorf("upstream address %v", addr)
	}
	// server.grpc_listen names a host: a Service whose every replica gets
	// streams, over HTTP/2.
	ext := p.clusters[envoy.ExtProcClusterName]
	if ext.GetType() != clusterv3.Cluster_STRICT_DNS {
		t.Errorf("ext_proc cluster type %v", ext.GetType())
	}
	ea := ext.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
	if ea.GetAddress() != "mcpguard.mcp-system.svc.cluster.local" || ea.GetPortValue() != 9002 {
		t.Errorf("ext_proc address %v", ea)
	}
	hpo := &httpv3.HttpProtocolOptions{}
	if err := ext.GetTypedExtensionProtocolOptions()[envoy.HTTPProtocolOptionsKey].UnmarshalTo(hpo); err != nil || hpo.GetExplicitHttpConfig().GetHttp2ProtocolOptions() == nil {
		t.Errorf("ext_proc cluster protocol %v %v", hpo, err)
	}
	if ext.GetHealthChecks()[0].GetGrpcHealthCheck().GetServiceName() != envoy.ExtProcServiceName {
		t.Error("ext_proc cluster is not health-checked with the gRPC health protocol")
	}
}

func TestBootstrapNamedUpstreams(t *testing.T) {
	cfg := loadConfig(t, "upstreams.yaml")
	b, err := envoy.Bootstrap(cfg, envoy.BootstrapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := dig(t, b)
	if _, ok := p.routes["mcp"]; ok {
		t.Error("a route without an upstream name exists next to named upstreams")
	}
	for _, u := range cfg.Upstreams {
		r := p.routes["upstream_"+u.Name]
		if r == nil {
			t.Fatalf("no route for upstream %s", u.Name)
		}
		if r.GetMatch().GetPathSeparatedPrefix() != "/"+u.Name || r.GetRoute().GetHostRewriteLiteral() != u.Host ||
			r.GetRoute().GetCluster() != envoy.UpstreamCluster+"_"+u.Name {
			t.Errorf("route %v", r)
		}
		pr := &extprocfilterv3.ExtProcPerRoute{}
		if err := r.GetTypedPerFilterConfig()[envoy.FilterExtProc].UnmarshalTo(pr); err != nil {
			t.Fatal(err)
		}
		md := pr.GetOverrides().GetGrpcInitialMetadata()
		if len(md) != 1 || md[0].GetKey() != envoy.UpstreamMetadataKey || md[0].GetValue() != u.Name {
			t.Errorf("upstream %s per-route metadata %v", u.Name, md)
		}
		tls := &tlsv3.UpstreamTlsContext{}
		if err := p.clusters[r.GetRoute().GetCluster()].GetTransportSocket().GetTypedConfig().UnmarshalTo(tls); err != nil || tls.GetSni() != u.Host {
			t.Errorf("upstream %s SNI %q (%v)", u.Name, tls.GetSni(), err)
		}
	}
}

func TestBootstrapJWTAuthn(t *testing.T) {
	cfg := loadConfig(t, "metadata.yaml")
	b, err := envoy.Bootstrap(cfg, envoy.BootstrapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := dig(t, b)
	if strings.Join(p.filters, ",") != envoy.FilterJWTAuthn+","+envoy.FilterExtProc+","+envoy.FilterRouter {
		t.Errorf("filters %v", p.filters)
	}
	prov := p.jwt.GetProviders()[envoy.JWTProviderName]
	if !prov.GetForward() || prov.GetPayloadInMetadata() != "claims" || prov.GetIssuer() != cfg.OIDC.Issuer ||
		strings.Join(prov.GetAudiences(), ",") != "aws-mcp" || prov.GetRemoteJwks().GetHttpUri().GetUri() != cfg.OIDC.JWKSURL ||
		prov.GetRemoteJwks().GetHttpUri().GetCluster() != envoy.JWKSClusterName || prov.GetClockSkewSeconds() != 30 {
		t.Errorf("provider %v", prov)
	}
	// The metadata path needs no token; everything else does.
	rules := p.jwt.GetRules()
	if len(rules) != 2 || rules[0].GetMatch().GetPrefix() != envoy.MetadataPath || rules[0].GetRequires() != nil ||
		rules[1].GetRequires().GetProviderName() != envoy.JWTProviderName {
		t.Errorf("rules %v", rules)
	}
	if got := p.extProc.GetMetadataOptions().GetForwardingNamespaces().GetUntyped(); len(got) != 1 || got[0] != envoy.FilterJWTAuthn {
		t.Errorf("forwarding namespaces %v", got)
	}
	idp := &tlsv3.UpstreamTlsContext{}
	if err := p.clusters[envoy.JWKSClusterName].GetTransportSocket().GetTypedConfig().UnmarshalTo(idp); err != nil || idp.GetSni() != "idp.example.com" {
		t.Errorf("JWKS cluster TLS %v %v", idp, err)
	}
}

func TestBootstrapErrors(t *testing.T) {
	tests := []struct {
		name   string
		config string
		edit   func(*config.Config)
		opts   envoy.BootstrapOptions
		want   string
	}{
		{"jwt_authn without jwks_url", "eu.yaml", nil, envoy.BootstrapOptions{JWTAuthn: true},
			"oidc_config.jwks_url is required for Envoy's jwt_authn filter"},
		{"provider without jwks_url", "providers.yaml", func(c *config.Config) { c.OIDCProviders[1].JWKSURL = "" }, envoy.BootstrapOptions{},
			"oidc_providers[1].jwks_url is required for Envoy's jwt_authn filter"},
		{"named upstream without path", "upstreams.yaml", func(c *config.Config) { c.Upstreams[1].Path = "" }, envoy.BootstrapOptions{},
			"upstreams[1] (eu): path is required"},
		{"certificate without key", "eu.yaml", nil, envoy.BootstrapOptions{TLSCertFile: "tls.crt"},
			"listener TLS needs both a certificate and a key file"},
		{"listen without port", "eu.yaml", nil, envoy.BootstrapOptions{Listen: "0.0.0.0"},
			`listen address: "0.0.0.0" is not host:port`},
		{"route prefix", "eu.yaml", nil, envoy.BootstrapOptions{RoutePrefix: "mcp"},
			`route prefix "mcp" must start with /`},
		{"upstream port", "eu.yaml", nil, envoy.BootstrapOptions{UpstreamPort: 70000},
			"upstream port 70000 is not between 1 and 65535"},
		{"listen port out of range", "eu.yaml", nil, envoy.BootstrapOptions{Listen: "0.0.0.0:99999"},
			"port must be a number from 0 to 65535"},
		{"pgv: invalid host rewrite", "eu.yaml", func(c *config.Config) { c.Upstream.Host = "bad\nhost" }, envoy.BootstrapOptions{},
			"HostRewriteLiteral"},
		{"grpc_tls without Envoy's client certificate", "mtls-header.yaml", nil, envoy.BootstrapOptions{MCPGuardAddress: "mcpguard.svc:9002"},
			"Envoy needs a client certificate and key for the ext_proc cluster"},
		{"grpc_tls to an IP without a server name", "mtls-header.yaml", nil, envoy.BootstrapOptions{
			MCPGuardAddress: "10.0.0.7:9002", ExtProcClientCertFile: "c", ExtProcClientKeyFile: "k", ExtProcCAFile: "ca",
		}, "--mcpguard-server-name"},
		{"relative unix socket", "eu.yaml", nil, envoy.BootstrapOptions{MCPGuardAddress: "unix://run/x.sock"},
			"a Unix socket needs an absolute path"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := loadConfig(t, tc.config)
			if tc.edit != nil {
				tc.edit(cfg)
			}
			b, err := envoy.Bootstrap(cfg, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Bootstrap error = %v, want it to contain %q (bootstrap %v)", err, tc.want, b != nil)
			}
		})
	}
}

func TestCommandLine(t *testing.T) {
	args := envoy.CommandLine("/etc/envoy/envoy.yaml")
	if args[0] != "-c" || args[1] != "/etc/envoy/envoy.yaml" || args[len(args)-2] != "--component-log-level" {
		t.Fatalf("args %v", args)
	}
	for _, c := range []string{"ext_proc", "http", "router", "jwt"} {
		if !strings.Contains(","+envoy.ComponentLogLevels+",", ","+c+":info,") {
			t.Errorf("component %s is not pinned at info", c)
		}
	}
}

func BenchmarkBootstrap(b *testing.B) {
	cfg := loadConfig(b, "upstreams.yaml")
	b.ReportAllocs()
	for b.Loop() {
		bs, err := envoy.Bootstrap(cfg, envoy.BootstrapOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := envoy.MarshalYAML(bs); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBootstrapPeerAuth: the ext_proc cluster carries what mcpguard's
// listener demands, and a SPIFFE server identity is matched as a URI SAN
// without SNI.
func TestBootstrapPeerAuth(t *testing.T) {
	cfg := loadConfig(t, "mtls-header.yaml")
	b, err := envoy.Bootstrap(cfg, envoy.BootstrapOptions{
		MCPGuardAddress:       "10.0.0.7:9002",
		ExtProcClientCertFile: "/etc/envoy/c.pem", ExtProcClientKeyFile: "/etc/envoy/k.pem", ExtProcCAFile: "/etc/envoy/ca.pem",
		ExtProcServerName: "spiffe://cluster.local/ns/mcpguard/sa/mcpguard",
	})
	if err != nil {
		t.Fatal(err)
	}
	y, err := envoy.MarshalYAML(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"san_type: URI", "exact: spiffe://cluster.local/ns/mcpguard/sa/mcpguard", "filename: /etc/envoy/c.pem", "- h2"} {
		if !strings.Contains(string(y), want) {
			t.Errorf("bootstrap lacks %q", want)
		}
	}
	// Without the TLS transport socket the validator refuses it.
	for _, c := range b.GetStaticResources().GetClusters() {
		if c.GetName() == envoy.ExtProcClusterName {
			c.TransportSocket = nil
		}
	}
	ps := envoy.CheckBootstrap(b, envoy.ValidateOptions{Config: cfg})
	if len(ps) != 1 || ps[0].Check != envoy.CheckGRPCPeerAuth {
		t.Fatalf("problems %v, want one grpc_peer_auth", ps)
	}
}
