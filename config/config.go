package config

import (
	"slices"
	"strings"
	"time"

	"github.com/mcpguard/mcpguard/awsapi"
)

// Config is the whole configuration file. It is built by Load or Parse and is
// immutable afterwards: pipeline stages read it, never change it.
type Config struct {
	// Server holds mcpguard's own listeners and limits.
	Server Server `yaml:"server"`
	// Upstream names the MCP server that requests are signed for.
	Upstream Upstream `yaml:"upstream"`
	// OIDC configures how client JWTs are authenticated.
	OIDC OIDC `yaml:"oidc_config"`
	// OIDCProviders lists several identity providers (config/providers.go);
	// when set, oidc_config keeps only the settings shared by all of them.
	OIDCProviders []OIDCProvider `yaml:"oidc_providers"`
	// STS configures role selection and AssumeRoleWithWebIdentity.
	STS STS `yaml:"aws_sts_config"`
	// Authz configures Cedar authorization. Nil when the file has no
	// authz_config section: there are no policies, and the server decides
	// what that means.
	Authz *Authz `yaml:"authz_config"`
	// Upstreams lists named upstreams for deployments where Envoy routes to
	// several signed MCP servers; Envoy names the one for each route in the
	// x-mcpguard-upstream gRPC initial metadata. Optional; when empty the
	// single Upstream is used for every request.
	Upstreams []NamedUpstream `yaml:"upstreams"`
	// Audit configures the audit trail.
	Audit Audit `yaml:"audit_config"`
	// Telemetry configures tracing.
	Telemetry Telemetry `yaml:"telemetry_config"`
	// ToolPinning guards against an upstream silently changing what a tool
	// does.
	ToolPinning ToolPinning `yaml:"tool_pinning"`
	// Protocol configures the MCP protocol checks: revisions, origins,
	// session binding, denial responses.
	Protocol Protocol `yaml:"mcp_protocol"`
	// IdentityCenter makes IAM Identity Center permission sets a credential
	// source beside STS direct. Nil when the file has no identity_center
	// section.
	IdentityCenter *IdentityCenter `yaml:"identity_center"`
	// RateLimits configures quotas after authorization. Nil without a
	// rate_limits section: no limits.
	RateLimits *RateLimits `yaml:"rate_limits"`
}

// ToolPinning records each tool definition (the whole tool object) per
// upstream the first time tools/list shows it (docs/tool-pinning.md).
type ToolPinning struct {
	// Mode is "off" (default), "warn" (a changed definition is logged and
	// audited) or "enforce" (a changed tool is removed from lists and its
	// calls are denied until `mcpguard tools approve`, and tools never
	// listed cannot be called).
	Mode string `yaml:"mode"`
	// Store is the JSON file holding the pins; required unless Mode is off.
	Store string `yaml:"store"`
}

// NamedUpstream is one entry of upstreams. Host, Service and Region default
// like Upstream's.
type NamedUpstream struct {
	// Name is what Envoy's per-route grpc_initial_metadata sends in
	// x-mcpguard-upstream. Required, unique, [a-z0-9_-]+.
	Name string `yaml:"name"`
	// Host, Service, Region and Path mean what they mean in Upstream.
	Host    string `yaml:"host"`
	Service string `yaml:"service"`
	Region  string `yaml:"region"`
	Path    string `yaml:"path"`
	// ProtocolVersions are the MCP revisions this upstream speaks.
	// Default mcp_protocol.supported_versions.
	ProtocolVersions []string `yaml:"protocol_versions"`
	// Capabilities mean what they mean in Upstream.
	Capabilities []string `yaml:"capabilities"`
}

// Audit configures the audit trail: one JSON record per line.
type Audit struct {
	// Enabled turns the audit trail on. Default true.
	Enabled *bool `yaml:"enabled"`
	// Output is "stdout" (default) or a file path, opened with O_APPEND.
	Output string `yaml:"output"`
	// Fsync is when a file output is synced to disk: "never" (default, the
	// OS decides), "always" (after every record) or "interval" (every
	// FsyncInterval).
	Fsync string `yaml:"fsync"`
	// FsyncInterval is the period of Fsync "interval". Default 1s.
	FsyncInterval time.Duration `yaml:"fsync_interval"`
	// FlushInterval is how long an mcp_response record may wait to be
	// written with the next record's write, between 0 (every record is
	// written before the call that makes it returns) and 1s. Default 5ms.
	// Records that fsync "always" syncs never wait.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// IncludeArguments records tool and prompt arguments. Default true.
	IncludeArguments *bool `yaml:"include_arguments"`
	// RedactKeys are argument keys whose values are replaced by
	// "[REDACTED]", matched case-insensitively at any depth. Default
	// password, passwd, secret, token, key, authorization, credential,
	// cookie, session.
	RedactKeys []string `yaml:"redact_keys"`
	// MaxArgumentBytes bounds each recorded argument value; longer values
	// are truncated with a marker. Default 4096.
	MaxArgumentBytes int `yaml:"max_argument_bytes"`
	// EventTypes selects which event types are written.
	EventTypes EventTypes `yaml:"event_types"`
	// OnFailure is "deny" (default: a request whose own record cannot be
	// written before it is forwarded is refused with 503) or "continue"
	// (count the failure).
	OnFailure string `yaml:"on_failure"`
	// Checkpoints anchors the hash chain outside the log with signed
	// checkpoints of its head (docs/audit.md).
	Checkpoints AuditCheckpoints `yaml:"checkpoints"`
}

// AuditCheckpoints configures the signed checkpoints of the audit chain.
type AuditCheckpoints struct {
	// KeyFile is the Ed25519 private key (PEM, PKCS #8) that signs the
	// checkpoints. Default empty: no checkpoints. Requires output to be a
	// file.
	KeyFile string `yaml:"key_file"`
	// File is the sidecar file checkpoints are appended to. Default: the
	// output path followed by ".checkpoints".
	File string `yaml:"file"`
	// Interval is how often the head is checkpointed when records were
	// added. Default 1m.
	Interval time.Duration `yaml:"interval"`
}

// EventTypes filters audit events by type. An empty Include means every
// type; Exclude always wins.
type EventTypes struct {
	Include []string `yaml:"include"`
	Exclude []string `yaml:"exclude"`
}

// AuditEnabled reports Audit.Enabled with its default.
func (a *Audit) AuditEnabled() bool { return a.Enabled == nil || *a.Enabled }

// ArgumentsIncluded reports Audit.IncludeArguments with its default.
func (a *Audit) ArgumentsIncluded() bool { return a.IncludeArguments == nil || *a.IncludeArguments }

// Telemetry configures OpenTelemetry tracing. Metrics are always served on
// the admin listener's /metrics.
type Telemetry struct {
	// Tracing configures span export.
	Tracing Tracing `yaml:"tracing"`
}

// Tracing configures the OTLP span exporter. The standard OTEL_* variables
// (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME, ...) apply too.
type Tracing struct {
	// Enabled turns tracing on. Default false.
	Enabled bool `yaml:"enabled"`
	// Exporter is "otlp_grpc" (default) or "otlp_http".
	Exporter string `yaml:"exporter"`
	// Endpoint is the collector address (host:port for gRPC, URL for
	// HTTP). Default empty: the exporter's own default or OTEL_* variables.
	Endpoint string `yaml:"endpoint"`
	// Insecure disables TLS to the collector (loopback or sidecar
	// collectors). Default false.
	Insecure bool `yaml:"insecure"`
	// SampleRatio is the parent-based sampling ratio for new traces.
	// Default 1.0.
	SampleRatio float64 `yaml:"sample_ratio"`
	// ServiceName is the service.name resource attribute. Default
	// "mcpguard".
	ServiceName string `yaml:"service_name"`
}

// Server configures the process's listeners. Envoy talks to GRPCListen;
// operators and probes talk to AdminListen.
type Server struct {
	// GRPCListen is where the ext_proc gRPC server listens: host:port, or
	// "unix:///absolute/path" for a Unix domain socket that only local
	// processes with file access can reach. Default "127.0.0.1:9002":
	// whoever reaches this port is trusted to speak for Envoy, so it is
	// loopback unless the operator opens it (with grpc_tls).
	GRPCListen string `yaml:"grpc_listen"`
	// GRPCSocketMode is the file mode of the Unix socket, in octal.
	// Default "0600" (only mcpguard's user; Envoy must run as it, or use
	// "0660" and share a group).
	GRPCSocketMode string `yaml:"grpc_socket_mode"`
	// GRPCTLS authenticates the ext_proc peer with mutual TLS. Off unless
	// cert_file is set.
	GRPCTLS GRPCTLS `yaml:"grpc_tls"`
	// AdminListen is the host:port of the admin HTTP server (health,
	// metrics). Default ":9090". It must differ from GRPCListen.
	AdminListen string `yaml:"admin_listen"`
	// MaxRequestBodyBytes caps the request body mcpguard will parse; larger
	// bodies are rejected before any JSON is read. Default 1048576 (1 MiB).
	MaxRequestBodyBytes int64 `yaml:"max_request_body_bytes"`
	// ShutdownGrace is how long in-flight streams may finish after a
	// shutdown signal. Default 15s.
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
	// DrainDelay is how long mcpguard keeps serving new streams after a
	// shutdown signal while reporting NOT_SERVING, so every Envoy's health
	// check sees it leave before it stops accepting. Default 10s: two of
	// the generated bootstrap's 5s health-check intervals.
	DrainDelay time.Duration `yaml:"drain_delay"`
	// Pprof serves Go's profiler under /debug/pprof/ on the admin
	// listener, for profiling a running gateway. Default false: profiles
	// reveal internals, so the admin port must stay private when it is on.
	Pprof bool `yaml:"pprof"`
}

// GRPCTLS is mutual TLS on the ext_proc listener: mcpguard presents
// CertFile and accepts only peers whose client certificate chains to
// ClientCAFile and names one of AllowedSANs. The three files are re-read
// when they change (checked at each new connection), so rotated
// certificates need no restart.
type GRPCTLS struct {
	// CertFile is mcpguard's server certificate chain (PEM). Setting it
	// turns TLS on; KeyFile, ClientCAFile and AllowedSANs are then
	// required.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the private key of CertFile (PEM).
	KeyFile string `yaml:"key_file"`
	// ClientCAFile holds the CA certificates (PEM) that issue Envoy's
	// client certificates.
	ClientCAFile string `yaml:"client_ca_file"`
	// AllowedSANs lists the peers allowed to connect: an entry starting
	// with "spiffe://" must equal a URI SAN of the client certificate (a
	// SPIFFE ID), any other entry must equal one of its DNS SANs. A CA
	// usually issues certificates to many workloads; the list narrows the
	// peers to Envoy.
	AllowedSANs []string `yaml:"allowed_sans"`
}

// Enabled reports whether mutual TLS is configured.
func (t *GRPCTLS) Enabled() bool { return t.CertFile != "" }

// GRPCSocket returns the socket path of a "unix://" GRPCListen, or "".
func (s *Server) GRPCSocket() string {
	if p, ok := strings.CutPrefix(s.GRPCListen, "unix://"); ok {
		return p
	}
	return ""
}

// PeerAuthenticated reports whether only an authenticated peer can reach
// the ext_proc listener: mutual TLS, or a Unix socket whose file mode
// decides who may connect.
func (s *Server) PeerAuthenticated() bool {
	return s.GRPCTLS.Enabled() || s.GRPCSocket() != ""
}

// Upstream identifies the remote MCP server. mcpguard signs for this host and
// service, never for the incoming :authority, because Envoy rewrites the host
// after ext_proc has run.
type Upstream struct {
	// Host is the host (optionally host:port) the signature covers.
	// Default "aws-mcp.<region>.api.aws".
	Host string `yaml:"host"`
	// Service is the SigV4 signing service name. Default "aws-mcp".
	Service string `yaml:"service"`
	// Region is the SigV4 signing region. Default aws_sts_config.region.
	Region string `yaml:"region"`
	// Path is the upstream request path, when Envoy rewrites it. Optional;
	// when set it must start with "/".
	Path string `yaml:"path"`
	// ProtocolVersions are the MCP revisions the upstream speaks. Default
	// mcp_protocol.supported_versions.
	ProtocolVersions []string `yaml:"protocol_versions"`
	// Capabilities are the server capabilities the upstream advertises
	// (tools, prompts, resources, logging, completions, tasks), for the
	// warnings of `mcpguard validate`. Optional.
	Capabilities []string `yaml:"capabilities"`
}

// TokenSource says where the client's JWT is read from.
type TokenSource string

const (
	// TokenSourceHeader reads "Authorization: Bearer <jwt>" and validates the
	// token in mcpguard. This is the default.
	TokenSourceHeader TokenSource = "header"
	// TokenSourceEnvoyMetadata reads the payload that Envoy's jwt_authn
	// filter already verified, from its payload_in_metadata key.
	TokenSourceEnvoyMetadata TokenSource = "envoy_metadata"
)

// OIDC configures JWT authentication against one OpenID Connect issuer.
type OIDC struct {
	// Issuer is the issuer URL; tokens must carry it in "iss". Required.
	Issuer string `yaml:"issuer"`
	// Audiences are the accepted "aud" values; a token must name at least
	// one. Required. YAML key "audience", a string or a list of strings.
	Audiences []string `yaml:"audience"`
	// JWKSURL overrides key discovery. Default empty, meaning OIDC discovery
	// at "<issuer>/.well-known/openid-configuration" (see DiscoveryURL).
	JWKSURL string `yaml:"jwks_url"`
	// AllowedAlgorithms lists the accepted JWS algorithms. Default RS256,
	// RS384, RS512, PS256, ES256, ES384, EdDSA. "none" and the HS* family
	// are always rejected: unsigned or shared-secret tokens would let a
	// client forge its identity.
	AllowedAlgorithms []string `yaml:"allowed_algorithms"`
	// ClockSkew is the leeway for exp, nbf and iat. Default 30s, at most 5m.
	ClockSkew time.Duration `yaml:"clock_skew"`
	// GroupClaim names the claim that carries the user's groups. Default
	// aws_sts_config.role_claim when that is set, else "groups".
	GroupClaim string `yaml:"group_claim"`
	// RequiredClaims are claims every token must carry as a non-empty
	// string of at most 1024 bytes, besides sub and iss which always must.
	// Default empty.
	RequiredClaims []string `yaml:"required_claims"`
	// TokenSource is "header" (default) or "envoy_metadata".
	TokenSource TokenSource `yaml:"token_source"`
	// MetadataKey is jwt_authn's payload_in_metadata key, read when
	// TokenSource is "envoy_metadata". Default "jwt_payload".
	MetadataKey string `yaml:"metadata_key"`
	// ResourceMetadata feeds the RFC 9728 protected resource metadata that
	// tells MCP clients where to log in.
	ResourceMetadata ResourceMetadata `yaml:"resource_metadata"`
}

// ResourceMetadata is the part of RFC 9728 metadata that the operator
// chooses; authorization_servers comes from the issuer.
type ResourceMetadata struct {
	// Resource is the URL of this protected resource as clients see it.
	// Optional; default empty, meaning it is derived from the request.
	Resource string `yaml:"resource"`
	// ScopesSupported is advertised to clients. Default
	// ["openid", "email", "profile"].
	ScopesSupported []string `yaml:"scopes_supported"`
}

// DiscoveryURL is where OIDC discovery metadata lives for o.Issuer, per
// OpenID Connect Discovery 1.0 section 4: the issuer with any trailing slash
// removed, followed by "/.well-known/openid-configuration".
func (o *OIDC) DiscoveryURL() string {
	return strings.TrimRight(o.Issuer, "/") + "/.well-known/openid-configuration"
}

// STS configures which IAM role a user gets and how credentials are obtained
// and cached.
type STS struct {
	// Region is the AWS region of the STS endpoint, e.g. "us-east-1".
	// Required.
	Region string `yaml:"region"`
	// RoleClaim names the claim whose values are matched against
	// RoleMappings. Default
	// "https://aws.amazon.com/tags/principal_tags/Groups".
	RoleClaim string `yaml:"role_claim"`
	// RoleMappings map claim values to IAM roles. When a user matches
	// several, the lowest priority number wins; mappings without a priority
	// come after every numbered one, in file order.
	RoleMappings []RoleMapping `yaml:"role_mappings"`
	// RoleARN is the role assumed when no mapping matches. Optional; without
	// it an unmatched user is refused.
	RoleARN string `yaml:"role_arn"`
	// STSEndpoint overrides the STS endpoint URL (tests, VPC endpoints).
	// Default empty, meaning the SDK's regional endpoint.
	STSEndpoint string `yaml:"sts_endpoint"`
	// SessionNameClaim names the claim used as RoleSessionName, so
	// CloudTrail shows who acted. Default "email".
	SessionNameClaim string `yaml:"session_name_claim"`
	// EmailVerifiedClaim names the claim that must be true (JSON true or
	// "true") for the email to be used as RoleSessionName; otherwise sub
	// is. Default "email_verified".
	EmailVerifiedClaim string `yaml:"email_verified_claim"`
	// SessionDuration is the requested DurationSeconds. Default 1h; STS
	// accepts 15m to 12h (and the role's MaxSessionDuration caps it).
	SessionDuration time.Duration `yaml:"session_duration"`
	// Cache bounds the credential cache.
	Cache Cache `yaml:"cache"`
	// ScopeDown is the default scope-down mode of the role mappings:
	// request, mapping (default) or none. See config/scopedown.go.
	ScopeDown string `yaml:"scope_down"`
	// ScopeDownConfig tunes scope_down request.
	ScopeDownConfig ScopeDownConfig `yaml:"scope_down_config"`
	// SharedCache shares credentials between replicas (config/sharedcache.go).
	SharedCache SharedCache `yaml:"shared_cache"`
}

// RoleMapping selects RoleARN for users whose role claim contains Claim.
type RoleMapping struct {
	// Claim is the claim value (for example a group name) that selects this
	// mapping. Required.
	Claim string `yaml:"claim"`
	// RoleARN is the IAM role to assume. Required.
	RoleARN string `yaml:"role_arn"`
	// Priority orders mappings when a user matches several: the lowest
	// number wins (0 first). Optional (nil: after every numbered mapping, in
	// file order); at least 0 when set.
	Priority *int `yaml:"priority"`
	// SessionPolicy is the inline session policy JSON passed to STS,
	// compacted. In YAML it is either inline JSON (starting with "{") or a
	// file path, which Load reads. Optional.
	SessionPolicy string `yaml:"session_policy"`
	// SessionPolicyFile is the resolved path SessionPolicy was read from, or
	// empty when the policy was inline. It is not a YAML key.
	SessionPolicyFile string `yaml:"-"`
	// SessionPolicyARNs are managed policies that further restrict the
	// session. At most 10.
	SessionPolicyARNs []string `yaml:"session_policy_arns"`
	// ScopeDown overrides aws_sts_config.scope_down for this mapping.
	ScopeDown string `yaml:"scope_down"`
}

// Cache bounds the STS credential cache.
type Cache struct {
	// MaxEntries caps cached credential sets. Default 10000, at least 1.
	MaxEntries int `yaml:"max_entries"`
	// RefreshMargin is how long before expiry cached credentials are
	// replaced. Default 5m; must be shorter than session_duration.
	RefreshMargin time.Duration `yaml:"refresh_margin"`
}

// Authz configures Cedar authorization.
type Authz struct {
	// PolicyFiles are paths or filepath.Match globs of Cedar policy files,
	// relative to the config file's folder. At least one entry is required
	// and every entry must match at least one file.
	PolicyFiles []string `yaml:"policy_files"`
	// EntitiesFile is an optional Cedar entities JSON file; it must exist.
	EntitiesFile string `yaml:"entities_file"`
	// GroupClaim overrides oidc_config.group_claim for Cedar group
	// membership. Default oidc_config.group_claim.
	GroupClaim string `yaml:"group_claim"`
	// AllowGuardrailRemoval accepts a policy set in which a policy file
	// holds no policy, and a reload that drops every forbid the set in force
	// had. Default false: an emptied or truncated guardrails file parses
	// without error, so such a set is refused (startup fails; a reload keeps
	// the last good set and records policy_reload_failed).
	AllowGuardrailRemoval bool `yaml:"allow_guardrail_removal"`
	// SchemaValidation type-checks every policy against the Cedar schema
	// at start and on every reload: strict (any schema error rejects the
	// set), warn (attribute errors are logged instead, for a migration)
	// or off. Default strict.
	SchemaValidation string `yaml:"schema_validation"`
	// SchemaFile replaces mcpguard's embedded Cedar schema
	// (docs/schema.cedarschema) with the operator's, for claims, tool
	// arguments or entity types the embedded one does not declare.
	// Relative to the config file's folder; must exist.
	SchemaFile string `yaml:"schema_file"`
	// ShadowPolicyFiles are policy files or globs of a second set that is
	// evaluated after every decision and never changes it: each
	// disagreement is audited (authz_shadow_mismatch) and counted. Empty
	// disables shadow evaluation.
	ShadowPolicyFiles []string `yaml:"shadow_policy_files"`
	// AWSAnalysis configures context.aws: the static analysis of
	// aws___run_script code and the read class behind read_only.
	AWSAnalysis AWSAnalysis `yaml:"aws_analysis"`
}

// AWSAnalysis bounds the analysis of aws___run_script code and defines
// which AWS operations count as read-only. Zero values and absent lists take
// the defaults below (the analyzer's, which a test keeps equal, and package
// awsapi's read class); an empty allowed_imports list allows no import.
type AWSAnalysis struct {
	// MaxScriptBytes is the largest code analysed; larger code is an
	// incomplete analysis (too_large). Default 65536.
	MaxScriptBytes int `yaml:"max_script_bytes"`
	// MaxDepth bounds the syntax tree's depth. Default 200.
	MaxDepth int `yaml:"max_depth"`
	// MaxNodes bounds the syntax tree's size. Default 100000.
	MaxNodes int `yaml:"max_nodes"`
	// AllowedImports are the modules a script may import and stay
	// complete. Default DefaultAllowedImports.
	AllowedImports []string `yaml:"allowed_imports"`
	// ReadVerbs are the operation verbs of the read class. Default
	// DefaultReadVerbs.
	ReadVerbs []string `yaml:"read_verbs"`
	// NotReadOnly are "<prefix>:<Operation>" actions never read-only,
	// whatever their verb. Default DefaultNotReadOnly.
	NotReadOnly []string `yaml:"not_read_only"`
}

// Defaults of AWSAnalysis. They repeat the script analyzer's defaults,
// because config does not import the cgo analyzer; gateway's tests keep
// them equal.
const (
	DefaultMaxScriptBytes = 64 << 10
	DefaultScriptMaxDepth = 200
	DefaultScriptMaxNodes = 100_000
)

// DefaultAllowedImports are the pure standard-library modules a script
// may import by default.
var DefaultAllowedImports = []string{
	"asyncio", "base64", "collections", "datetime", "decimal", "fractions",
	"collections.abc", "functools", "itertools", "json", "math", "re", "statistics",
	"textwrap", "time",
}

// DefaultReadVerbs and DefaultNotReadOnly are package awsapi's read class,
// which config takes as is rather than repeating it.
var (
	DefaultReadVerbs   = awsapi.DefaultReadVerbs
	DefaultNotReadOnly = awsapi.DefaultNotReadOnly
)

// Default returns a configuration holding every static default. Parse starts
// from it, so a key absent from the file keeps its default. Defaults derived
// from other keys (upstream host and region, group claims) are filled in by
// Parse after decoding.
func Default() *Config {
	return &Config{
		Server: Server{
			GRPCListen:          "127.0.0.1:9002",
			GRPCSocketMode:      "0600",
			AdminListen:         ":9090",
			MaxRequestBodyBytes: 1 << 20,
			ShutdownGrace:       15 * time.Second,
			DrainDelay:          10 * time.Second,
		},
		Upstream: Upstream{
			Service: "aws-mcp",
		},
		OIDC: OIDC{
			AllowedAlgorithms: []string{"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"},
			ClockSkew:         30 * time.Second,
			TokenSource:       TokenSourceHeader,
			MetadataKey:       "jwt_payload",
			ResourceMetadata: ResourceMetadata{
				ScopesSupported: []string{"openid", "email", "profile"},
			},
		},
		Audit: Audit{
			Output:           "stdout",
			Fsync:            "never",
			FsyncInterval:    time.Second,
			FlushInterval:    5 * time.Millisecond,
			RedactKeys:       []string{"password", "passwd", "secret", "token", "key", "authorization", "credential", "cookie", "session"},
			MaxArgumentBytes: 4096,
			OnFailure:        "deny",
			Checkpoints:      AuditCheckpoints{Interval: time.Minute},
		},
		ToolPinning: ToolPinning{Mode: "off"},
		Protocol:    Protocol{SupportedVersions: defaultVersions(), DenialResponse: DenialHTTPError},
		Telemetry: Telemetry{Tracing: Tracing{
			Exporter:    "otlp_grpc",
			SampleRatio: 1,
			ServiceName: "mcpguard",
		}},
		STS: STS{
			RoleClaim:          "https://aws.amazon.com/tags/principal_tags/Groups",
			SessionNameClaim:   "email",
			EmailVerifiedClaim: "email_verified",
			SessionDuration:    time.Hour,
			Cache: Cache{
				MaxEntries:    10000,
				RefreshMargin: 5 * time.Minute,
			},
			ScopeDown:       ScopeDownMapping,
			ScopeDownConfig: ScopeDownConfig{MaxActionSets: defaultMaxActionSets, UnknownTools: ToolScopeRefuse},
			SharedCache:     SharedCache{TTLMargin: DefaultSharedCacheTTLMargin},
		},
	}
}

// fillDerived sets the defaults that depend on other keys. It only fills
// empty values, so explicit settings win.
func (c *Config) fillDerived() {
	c.fillIdentityCenter()
	c.fillProviders()
	c.fillRateLimits()
	if c.Upstream.Region == "" {
		c.Upstream.Region = c.STS.Region
	}
	if c.Upstream.Host == "" && c.Upstream.Region != "" {
		c.Upstream.Host = "aws-mcp." + c.Upstream.Region + ".api.aws"
	}
	for i := range c.Upstreams {
		u := &c.Upstreams[i]
		if u.Region == "" {
			u.Region = c.Upstream.Region
		}
		if u.Service == "" {
			u.Service = c.Upstream.Service
		}
		if u.Host == "" && u.Region != "" {
			u.Host = "aws-mcp." + u.Region + ".api.aws"
		}
	}
	if c.OIDC.GroupClaim == "" {
		if c.STS.RoleClaim != "" {
			c.OIDC.GroupClaim = c.STS.RoleClaim
		} else {
			c.OIDC.GroupClaim = "groups"
		}
	}
	if c.Authz != nil && c.Authz.GroupClaim == "" {
		c.Authz.GroupClaim = c.OIDC.GroupClaim
	}
	if c.Authz != nil {
		if c.Authz.SchemaValidation == "" {
			c.Authz.SchemaValidation = "strict"
		}
		aa := &c.Authz.AWSAnalysis
		if aa.MaxScriptBytes == 0 {
			aa.MaxScriptBytes = DefaultMaxScriptBytes
		}
		if aa.MaxDepth == 0 {
			aa.MaxDepth = DefaultScriptMaxDepth
		}
		if aa.MaxNodes == 0 {
			aa.MaxNodes = DefaultScriptMaxNodes
		}
		if aa.AllowedImports == nil {
			aa.AllowedImports = slices.Clone(DefaultAllowedImports)
		}
		if aa.ReadVerbs == nil {
			aa.ReadVerbs = slices.Clone(DefaultReadVerbs)
		}
		if aa.NotReadOnly == nil {
			aa.NotReadOnly = slices.Clone(DefaultNotReadOnly)
		}
	}
}
