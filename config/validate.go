package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// STS and OIDC limits the configuration must respect.
const (
	minSessionDuration = 15 * time.Minute
	maxSessionDuration = 12 * time.Hour
	maxClockSkew       = 5 * time.Minute
	maxPolicyChars     = 2048
	maxPolicyARNs      = 10
)

// supportedAlgorithms are the asymmetric JWS algorithms (RFC 7518, RFC 8037)
// that may appear in allowed_algorithms.
var supportedAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// Validate checks every rule of the schema and returns Problems listing all
// violations, or nil. It reads the file system to check that policy globs
// and the entities file match files. Validate does not fill defaults: call
// it on a Config built by Load or Parse, or on one built in code from
// Default.
func (c *Config) Validate() error {
	return c.validate().err()
}

// validate collects the problems; Parse merges them with decoding problems.
func (c *Config) validate() Problems {
	var ps Problems
	c.validateServer(&ps)
	c.validateUpstream(&ps)
	c.validateOIDC(&ps)
	c.validateProviders(&ps)
	c.validateSTS(&ps)
	c.validateAuthz(&ps)
	c.validateUpstreams(&ps)
	c.validateCapabilities(&ps)
	c.validateAudit(&ps)
	c.validateTelemetry(&ps)
	c.validateToolPinning(&ps)
	c.validateProtocol(&ps)
	c.validateIdentityCenter(&ps)
	c.validateRateLimits(&ps)
	return ps
}

func (c *Config) validateToolPinning(ps *Problems) {
	p := &c.ToolPinning
	switch p.Mode {
	case "off":
	case "warn", "enforce":
		if p.Store == "" {
			ps.add("tool_pinning.store", "required when mode is %s", p.Mode)
		}
	default:
		ps.add("tool_pinning.mode", "must be off, warn or enforce, got %q", p.Mode)
	}
}

var upstreamNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func (c *Config) validateUpstreams(ps *Problems) {
	seen := map[string]int{}
	for i, u := range c.Upstreams {
		p := index("upstreams", i)
		if u.Name == "" {
			ps.add(p+".name", "required")
		} else if !upstreamNameRE.MatchString(u.Name) {
			ps.add(p+".name", "%q is not a valid upstream name (lowercase letters, digits, _ and -; at most 63)", u.Name)
		} else if j, dup := seen[u.Name]; dup {
			ps.add(p+".name", "duplicate of upstreams[%d]", j)
		} else {
			seen[u.Name] = i
		}
		requireWith(ps, p+".host", u.Host, checkHost)
		requireWith(ps, p+".region", u.Region, checkRegion)
		if !serviceRE.MatchString(u.Service) {
			ps.add(p+".service", "%q is not a SigV4 service name (lowercase letters, digits and -)", u.Service)
		}
		if u.Path != "" && !strings.HasPrefix(u.Path, "/") {
			ps.add(p+".path", "must start with \"/\"")
		}
	}
}

func (c *Config) validateAudit(ps *Problems) {
	a := &c.Audit
	if a.Output == "" {
		ps.add("audit_config.output", "must be \"stdout\" or a file path")
	}
	switch a.Fsync {
	case "never", "always", "interval":
	default:
		ps.add("audit_config.fsync", "must be never, always or interval, got %q", a.Fsync)
	}
	if a.FsyncInterval <= 0 {
		ps.add("audit_config.fsync_interval", "must be positive")
	}
	if a.FlushInterval < 0 || a.FlushInterval > time.Second {
		ps.add("audit_config.flush_interval", "must be between 0 (write every record at once) and 1s, got %s", a.FlushInterval)
	}
	if a.MaxArgumentBytes < 16 || a.MaxArgumentBytes > 1<<20 {
		ps.add("audit_config.max_argument_bytes", "must be between 16 and 1048576, got %d", a.MaxArgumentBytes)
	}
	for i, k := range a.RedactKeys {
		if strings.TrimSpace(k) == "" {
			ps.add(index("audit_config.redact_keys", i), "must not be empty")
		}
	}
	switch a.OnFailure {
	case "deny", "continue":
	default:
		ps.add("audit_config.on_failure", "must be deny or continue, got %q", a.OnFailure)
	}
	if cp := a.Checkpoints; cp.KeyFile != "" {
		if a.Output == "stdout" {
			ps.add("audit_config.checkpoints.key_file", "needs audit_config.output to be a file: on stdout each process starts a new chain")
		}
		if cp.File != "" && cp.File == a.Output {
			ps.add("audit_config.checkpoints.file", "must not be the audit log itself")
		}
	} else if cp.File != "" {
		ps.add("audit_config.checkpoints.file", "needs audit_config.checkpoints.key_file")
	}
	if a.Checkpoints.Interval < time.Second {
		ps.add("audit_config.checkpoints.interval", "must be at least 1s, got %s", a.Checkpoints.Interval)
	}
	for i, t := range a.EventTypes.Include {
		if !eventTypeRE.MatchString(t) {
			ps.add(index("audit_config.event_types.include", i), "%q is not an event type name", t)
		}
	}
	for i, t := range a.EventTypes.Exclude {
		if !eventTypeRE.MatchString(t) {
			ps.add(index("audit_config.event_types.exclude", i), "%q is not an event type name", t)
		}
	}
}

// eventTypeRE is the shape of audit event type names (mcp_tool_call,
// authz_denied, ...); the audit package knows the exact list.
var eventTypeRE = regexp.MustCompile(`^[a-z][a-z0-9_]{1,63}$`)

func (c *Config) validateTelemetry(ps *Problems) {
	t := &c.Telemetry.Tracing
	switch t.Exporter {
	case "otlp_grpc", "otlp_http":
	default:
		ps.add("telemetry_config.tracing.exporter", "must be otlp_grpc or otlp_http, got %q", t.Exporter)
	}
	if t.SampleRatio < 0 || t.SampleRatio > 1 {
		ps.add("telemetry_config.tracing.sample_ratio", "must be between 0 and 1, got %g", t.SampleRatio)
	}
	if t.ServiceName == "" {
		ps.add("telemetry_config.tracing.service_name", "must not be empty")
	}
}

func (c *Config) validateServer(ps *Problems) {
	s := &c.Server
	grpcOK := requireWith(ps, "server.grpc_listen", s.GRPCListen, checkGRPCListen)
	adminOK := requireWith(ps, "server.admin_listen", s.AdminListen, checkListen)
	if _, err := s.SocketMode(); err != nil {
		ps.add("server.grpc_socket_mode", "%s", err.Error())
	}
	c.validateGRPCTLS(ps)
	if grpcOK && adminOK && s.GRPCListen == s.AdminListen && !strings.HasSuffix(s.GRPCListen, ":0") {
		ps.add("server.admin_listen", "must differ from server.grpc_listen")
	}
	if s.MaxRequestBodyBytes < 1 {
		ps.add("server.max_request_body_bytes", "must be at least 1, got %d", s.MaxRequestBodyBytes)
	}
	if s.DrainDelay < 0 {
		ps.add("server.drain_delay", "must not be negative, got %s", s.DrainDelay)
	}
	if s.ShutdownGrace < 0 {
		ps.add("server.shutdown_grace", "must not be negative, got %s", s.ShutdownGrace)
	}
}

// checkGRPCListen accepts host:port or unix:///absolute/path.
func checkGRPCListen(s string) string {
	p, ok := strings.CutPrefix(s, "unix://")
	if !ok {
		return checkListen(s)
	}
	switch {
	case !filepath.IsAbs(p):
		return fmt.Sprintf("%q: a Unix socket needs an absolute path (unix:///run/mcpguard/extproc.sock)", s)
	case filepath.Clean(p) != p:
		return fmt.Sprintf("%q: socket path is not clean", s)
	case len(p) > 107:
		return fmt.Sprintf("%q: socket path is longer than 107 bytes (sun_path)", s)
	}
	return ""
}

// SocketMode parses GRPCSocketMode (octal, at most 0777).
func (s *Server) SocketMode() (fs.FileMode, error) {
	m, err := strconv.ParseUint(strings.TrimPrefix(s.GRPCSocketMode, "0o"), 8, 32)
	if err != nil || m > 0o777 {
		return 0, fmt.Errorf("%q is not an octal file mode such as \"0600\"", s.GRPCSocketMode)
	}
	return fs.FileMode(m), nil
}

// spiffeIDRE is a SPIFFE ID: spiffe://<trust domain>/<path> (SPIFFE ID
// specification §2), trust domain in lowercase letters, digits, ".", "-"
// and "_".
var spiffeIDRE = regexp.MustCompile(`^spiffe://[a-z0-9._-]+(/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)*$`)

func (c *Config) validateGRPCTLS(ps *Problems) {
	t := &c.Server.GRPCTLS
	if !t.Enabled() {
		if t.KeyFile != "" || t.ClientCAFile != "" || len(t.AllowedSANs) > 0 {
			ps.add("server.grpc_tls.cert_file", "required when any other grpc_tls key is set")
		}
		return
	}
	for _, f := range []struct{ key, path string }{
		{"cert_file", t.CertFile}, {"key_file", t.KeyFile}, {"client_ca_file", t.ClientCAFile},
	} {
		requireWith(ps, "server.grpc_tls."+f.key, f.path, checkRegularFile)
	}
	if len(t.AllowedSANs) == 0 {
		ps.add("server.grpc_tls.allowed_sans", "list at least one SPIFFE ID or DNS name: without it every certificate the CA ever issued could speak for Envoy")
	}
	for i, san := range t.AllowedSANs {
		p := index("server.grpc_tls.allowed_sans", i)
		switch {
		case strings.HasPrefix(san, "spiffe://"):
			if !spiffeIDRE.MatchString(san) {
				ps.add(p, "%q is not a SPIFFE ID (spiffe://<trust-domain>/<path>)", san)
			}
		case strings.Contains(san, "*"):
			ps.add(p, "%q: wildcards are not accepted; list each peer", san)
		default:
			if why := checkHost(san); why != "" || strings.Contains(san, ":") {
				ps.add(p, "%q is neither a SPIFFE ID nor a DNS name", san)
			}
		}
		if slices.Index(t.AllowedSANs, san) < i {
			ps.add(p, "duplicate entry %q", san)
		}
	}
}

// Warnings lists what is valid but risky, for `mcpguard validate`: today a
// plaintext ext_proc listener that is not on loopback, where any host that
// reaches the port can speak for Envoy (forge source.address, request.id,
// x-mcpguard-upstream) and receive signed headers.
func (c *Config) Warnings() []string {
	var w []string
	s := &c.Server
	if !s.PeerAuthenticated() && !loopbackListen(s.GRPCListen) {
		w = append(w, fmt.Sprintf("server.grpc_listen %q is reachable beyond this host without peer authentication: any peer that reaches it can impersonate Envoy and obtain signed requests; set server.grpc_tls or listen on 127.0.0.1 or a unix:// socket", s.GRPCListen))
	}
	return append(w, c.providerWarnings()...)
}

// loopbackListen reports whether a host:port listens on loopback only.
func loopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *Config) validateUpstream(ps *Problems) {
	u := &c.Upstream
	// With no STS region there is nothing to derive the upstream region and
	// host from; aws_sts_config.region is already reported.
	derivable := c.STS.Region != ""
	if u.Host != "" || derivable {
		requireWith(ps, "upstream.host", u.Host, checkHost)
	}
	requireWith(ps, "upstream.service", u.Service, func(s string) string {
		if !serviceRE.MatchString(s) {
			return fmt.Sprintf("%q is not a SigV4 service name (lowercase letters, digits and -)", s)
		}
		return ""
	})
	// A region derived from aws_sts_config.region is checked there.
	if (u.Region != "" || derivable) && u.Region != c.STS.Region {
		requireWith(ps, "upstream.region", u.Region, checkRegion)
	}
	if u.Path != "" && !strings.HasPrefix(u.Path, "/") {
		ps.add("upstream.path", "must start with \"/\"")
	}
}

func (c *Config) validateOIDC(ps *Problems) {
	o := &c.OIDC
	if !c.HasProviders() {
		requireWith(ps, "oidc_config.issuer", o.Issuer, func(s string) string {
			return checkURL(s, urlRules{noQuery: true})
		})
		if len(o.Audiences) == 0 {
			ps.add("oidc_config.audience", "required")
		}
	}
	for i, a := range o.Audiences {
		if strings.TrimSpace(a) == "" {
			ps.add(index("oidc_config.audience", i), "must not be empty")
		}
	}
	if o.JWKSURL != "" {
		if why := checkURL(o.JWKSURL, urlRules{}); why != "" {
			ps.add("oidc_config.jwks_url", "%s", why)
		}
	}
	if len(o.AllowedAlgorithms) == 0 {
		ps.add("oidc_config.allowed_algorithms", "must list at least one algorithm")
	}
	for i, alg := range o.AllowedAlgorithms {
		p := index("oidc_config.allowed_algorithms", i)
		switch {
		case strings.EqualFold(alg, "none"):
			ps.add(p, "%q is never accepted: unsigned tokens would let anyone claim any identity", alg)
		case strings.HasPrefix(strings.ToUpper(alg), "HS"):
			ps.add(p, "%q is a shared-secret (HMAC) algorithm and is not accepted: use an asymmetric algorithm whose public keys the issuer publishes", alg)
		case !slices.Contains(supportedAlgorithms, alg):
			ps.add(p, "unknown algorithm %q (want one of %s)", alg, strings.Join(supportedAlgorithms, ", "))
		case slices.Index(o.AllowedAlgorithms, alg) < i:
			ps.add(p, "duplicate algorithm %q", alg)
		}
	}
	if o.ClockSkew < 0 || o.ClockSkew > maxClockSkew {
		ps.add("oidc_config.clock_skew", "must be between 0s and %s, got %s", maxClockSkew, o.ClockSkew)
	}
	if o.GroupClaim == "" {
		ps.add("oidc_config.group_claim", "required")
	}
	for i, c := range o.RequiredClaims {
		p := fmt.Sprintf("oidc_config.required_claims[%d]", i)
		switch {
		case c == "":
			ps.add(p, "must not be empty")
		case slices.Index(o.RequiredClaims, c) < i:
			ps.add(p, "duplicate claim %q", c)
		}
	}
	switch o.TokenSource {
	case TokenSourceHeader:
	case TokenSourceEnvoyMetadata:
		if o.MetadataKey == "" {
			ps.add("oidc_config.metadata_key", "required when token_source is %q", TokenSourceEnvoyMetadata)
		}
		if !c.Server.PeerAuthenticated() {
			ps.add("oidc_config.token_source", "%q trusts what the ext_proc peer says jwt_authn verified: it requires peer authentication (server.grpc_tls, or server.grpc_listen on a unix:// socket)", TokenSourceEnvoyMetadata)
		}
	default:
		ps.add("oidc_config.token_source", "must be %q or %q, got %q", TokenSourceHeader, TokenSourceEnvoyMetadata, o.TokenSource)
	}
	rm := &o.ResourceMetadata
	if rm.Resource != "" {
		if why := checkURL(rm.Resource, urlRules{}); why != "" {
			ps.add("oidc_config.resource_metadata.resource", "%s", why)
		}
	}
	for i, s := range rm.ScopesSupported {
		if why := checkScope(s); why != "" {
			ps.add(index("oidc_config.resource_metadata.scopes_supported", i), "%s", why)
		}
	}
}

func (c *Config) validateSTS(ps *Problems) {
	s := &c.STS
	c.validateScopeDown(ps)
	c.validateSharedCache(ps)
	requireWith(ps, "aws_sts_config.region", s.Region, checkRegion)
	if s.RoleClaim == "" {
		ps.add("aws_sts_config.role_claim", "required")
	}
	if len(s.RoleMappings) == 0 && s.RoleARN == "" && !c.everyProviderHasRoles() {
		ps.add("aws_sts_config", "no role to assume: set role_mappings, role_arn or both")
	}
	for i := range s.RoleMappings {
		validateMapping(ps, s.RoleMappings, i)
	}
	if s.RoleARN != "" {
		if why := checkRoleARN(s.RoleARN); why != "" {
			ps.add("aws_sts_config.role_arn", "%s", why)
		}
	}
	if s.STSEndpoint != "" {
		if why := checkURL(s.STSEndpoint, urlRules{}); why != "" {
			ps.add("aws_sts_config.sts_endpoint", "%s", why)
		}
	}
	if s.SessionNameClaim == "" {
		ps.add("aws_sts_config.session_name_claim", "required")
	}
	if s.EmailVerifiedClaim == "" {
		ps.add("aws_sts_config.email_verified_claim", "must not be empty (default email_verified)")
	}
	durationOK := s.SessionDuration >= minSessionDuration && s.SessionDuration <= maxSessionDuration
	if !durationOK {
		ps.add("aws_sts_config.session_duration", "must be between %s and %s (STS limits), got %s",
			minSessionDuration, maxSessionDuration, s.SessionDuration)
	}
	if s.Cache.MaxEntries < 1 {
		ps.add("aws_sts_config.cache.max_entries", "must be at least 1, got %d", s.Cache.MaxEntries)
	}
	switch {
	case s.Cache.RefreshMargin < 0:
		ps.add("aws_sts_config.cache.refresh_margin", "must not be negative, got %s", s.Cache.RefreshMargin)
	case durationOK && s.Cache.RefreshMargin >= s.SessionDuration:
		ps.add("aws_sts_config.cache.refresh_margin", "must be shorter than aws_sts_config.session_duration (%s), got %s",
			s.SessionDuration, s.Cache.RefreshMargin)
	}
}

// validateMapping checks role_mappings[i], including that no earlier mapping
// has the same claim and priority, which would make the choice ambiguous.
func validateMapping(ps *Problems, ms []RoleMapping, i int) {
	validateMappingAt(ps, "aws_sts_config.role_mappings", ms, i)
}

// validateMappingAt is validateMapping for the role_mappings list at path.
func validateMappingAt(ps *Problems, path string, ms []RoleMapping, i int) {
	m := &ms[i]
	p := index(path, i)
	if m.Claim == "" {
		ps.add(p+".claim", "required")
	} else {
		for j := range i {
			if ms[j].Claim == m.Claim && samePriority(ms[j].Priority, m.Priority) {
				ps.add(p+".claim", "duplicate of role_mappings[%d]: same claim %q and priority", j, m.Claim)
				break
			}
		}
	}
	requireWith(ps, p+".role_arn", m.RoleARN, checkRoleARN)
	if m.Priority != nil && *m.Priority < 0 {
		ps.add(p+".priority", "must be at least 0, got %d", *m.Priority)
	}
	if m.SessionPolicy != "" {
		if why := checkSessionPolicy(m.SessionPolicy); why != "" {
			if m.SessionPolicyFile != "" {
				why = fmt.Sprintf("file %q: %s", filepath.Base(m.SessionPolicyFile), why)
			}
			ps.add(p+".session_policy", "%s", why)
		}
	}
	if len(m.SessionPolicyARNs) > maxPolicyARNs {
		ps.add(p+".session_policy_arns", "at most %d policy ARNs are allowed, got %d", maxPolicyARNs, len(m.SessionPolicyARNs))
	}
	total := len(m.SessionPolicy)
	for j, arn := range m.SessionPolicyARNs {
		total += len(arn)
		if why := checkPolicyARN(arn); why != "" {
			ps.add(index(p+".session_policy_arns", j), "%s", why)
		}
	}
	if len(m.SessionPolicy) <= maxPolicyChars && total > maxPolicyChars {
		ps.add(p, "session_policy and session_policy_arns together exceed %d characters (STS limit)", maxPolicyChars)
	}
}

func samePriority(a, b *int) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// checkSessionPolicy checks an inline session policy: a JSON object within
// the STS size limit and character set.
func checkSessionPolicy(s string) string {
	var doc any
	if err := json.Unmarshal([]byte(s), &doc); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return fmt.Sprintf("not valid JSON: syntax error at byte %d", syn.Offset)
		}
		return "not valid JSON"
	}
	if _, ok := doc.(map[string]any); !ok {
		return "must be a JSON object (an IAM policy document)"
	}
	if n := len([]rune(s)); n > maxPolicyChars {
		return fmt.Sprintf("is %d characters after removing whitespace; STS allows at most %d", n, maxPolicyChars)
	}
	for _, r := range s {
		if r != '\t' && r != '\n' && r != '\r' && (r < 0x20 || r > 0xff) {
			return fmt.Sprintf("contains %q; STS accepts only tab, newline, carriage return and U+0020 to U+00FF", r)
		}
	}
	return ""
}

func (c *Config) validateAuthz(ps *Problems) {
	a := c.Authz
	if a == nil {
		return
	}
	if len(a.PolicyFiles) == 0 {
		ps.add("authz_config.policy_files", "at least one policy file or glob is required")
	}
	for i, pattern := range a.PolicyFiles {
		if _, err := expand(pattern); err != nil {
			ps.add(index("authz_config.policy_files", i), "%s", err.Error())
		}
	}
	if a.EntitiesFile != "" {
		if why := checkRegularFile(a.EntitiesFile); why != "" {
			ps.add("authz_config.entities_file", "%s", why)
		}
	}
	if a.GroupClaim == "" {
		ps.add("authz_config.group_claim", "required")
	}
	switch a.SchemaValidation {
	case "strict", "warn", "off":
	default:
		ps.add("authz_config.schema_validation", "must be strict, warn or off, got %q", a.SchemaValidation)
	}
	if a.SchemaFile != "" {
		if why := checkRegularFile(a.SchemaFile); why != "" {
			ps.add("authz_config.schema_file", "%s", why)
		}
	}
	for i, pattern := range a.ShadowPolicyFiles {
		if _, err := expand(pattern); err != nil {
			ps.add(index("authz_config.shadow_policy_files", i), "%s", err.Error())
		}
	}
	aa := &a.AWSAnalysis
	for _, f := range []struct {
		key string
		v   int
	}{{"max_script_bytes", aa.MaxScriptBytes}, {"max_depth", aa.MaxDepth}, {"max_nodes", aa.MaxNodes}} {
		if f.v < 0 {
			ps.add("authz_config.aws_analysis."+f.key, "must be positive")
		}
	}
	if aa.MaxScriptBytes > 16<<20 {
		ps.add("authz_config.aws_analysis.max_script_bytes", "must be at most 16777216")
	}
	for i, m := range aa.AllowedImports {
		if !dottedName.MatchString(m) {
			ps.add(index("authz_config.aws_analysis.allowed_imports", i), "%q is not a module name (dotted Python identifiers)", m)
		}
	}
	for i, v := range aa.ReadVerbs {
		if !pascalWord.MatchString(v) {
			ps.add(index("authz_config.aws_analysis.read_verbs", i), "%q is not a PascalCase verb such as Get or BatchGet", v)
		}
	}
	for i, act := range aa.NotReadOnly {
		if !awsAction.MatchString(act) {
			ps.add(index("authz_config.aws_analysis.not_read_only", i), "%q is not an action <prefix>:<Operation>", act)
		}
	}
}

var (
	dottedName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)
	pascalWord = regexp.MustCompile(`^[A-Z][A-Za-z]*$`)
	awsAction  = regexp.MustCompile(`^[a-z0-9-]+:[A-Z][A-Za-z0-9]*$`)
)

// PolicyPaths expands PolicyFiles into the sorted, de-duplicated list of
// regular files they name. The policy store calls it at startup and on every
// reload, so files added to a globbed folder are picked up. It fails when a
// pattern is malformed or matches no file.
func (a *Authz) PolicyPaths() ([]string, error) {
	var all []string
	for _, pattern := range a.PolicyFiles {
		files, err := expand(pattern)
		if err != nil {
			return nil, fmt.Errorf("expand policy files %q: %w", pattern, err)
		}
		all = append(all, files...)
	}
	slices.Sort(all)
	return slices.Compact(all), nil
}

// expand globs one pattern and keeps regular files only.
func expand(pattern string) ([]string, error) {
	matches, err := filepath.Glob(pattern)
	if err != nil {
		return nil, errors.New("malformed glob pattern")
	}
	var files []string
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil && fi.Mode().IsRegular() {
			files = append(files, m)
		}
	}
	if len(files) == 0 {
		return nil, errors.New("matches no files")
	}
	return files, nil
}

// checkRegularFile checks that path names an existing regular file.
func checkRegularFile(path string) string {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("file %q does not exist", filepath.Base(path))
	case err != nil:
		return fmt.Sprintf("file %q cannot be read", filepath.Base(path))
	case !fi.Mode().IsRegular():
		return fmt.Sprintf("%q is not a regular file", filepath.Base(path))
	}
	return ""
}

// requireWith reports "required" for an empty value, otherwise applies
// check. It returns whether the value is valid.
func requireWith(ps *Problems, path, value string, check func(string) string) bool {
	if value == "" {
		ps.add(path, "required")
		return false
	}
	if why := check(value); why != "" {
		ps.add(path, "%s", why)
		return false
	}
	return true
}
