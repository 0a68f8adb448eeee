package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/invalid/*.golden from the current output")

func ptr[T any](v T) *T { return &v }

func TestLoadInvalid(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 16 {
		t.Fatalf("found %d invalid fixtures, want at least 16", len(files))
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			c, err := Load(file)
			if err == nil {
				t.Fatalf("Load succeeded: %+v", c)
			}
			if c != nil {
				t.Errorf("Load returned a Config along with an error")
			}
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("error is %T, want Problems: %v", err, err)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (run with -update to create it): %v", err)
			}
			if got != string(want) {
				t.Errorf("problems differ from %s\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

func TestLoadValid(t *testing.T) {
	files, err := filepath.Glob("testdata/valid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("found %d valid fixtures, want at least 3", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			c, err := Load(file)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("Validate after Load: %v", err)
			}
		})
	}
}

func TestLoadSeedDefaults(t *testing.T) {
	c, err := Load("testdata/valid/seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Upstream.Host = "aws-mcp.us-east-1.api.aws"
	want.Upstream.Region = "us-east-1"
	want.OIDC.Issuer = "https://your-okta.okta.com/oauth2/default"
	want.OIDC.Audiences = []string{"aws-mcp"}
	want.OIDC.GroupClaim = "https://aws.amazon.com/tags/principal_tags/Groups"
	want.STS.Region = "us-east-1"
	want.STS.RoleMappings = []RoleMapping{
		{Claim: "s3-readers", RoleARN: "arn:aws:iam::123456789012:role/S3ReadOnlyMCPRole"},
		{Claim: "ec2-viewers", RoleARN: "arn:aws:iam::123456789012:role/EC2ViewOnlyMCPRole"},
	}
	want.STS.RoleARN = "arn:aws:iam::123456789012:role/DefaultMCPRole"
	if !reflect.DeepEqual(c, want) {
		t.Errorf("seed config:\ngot  %+v\nwant %+v", c, want)
	}
	// The documented defaults, spelled out so a change to Default is seen.
	checks := []struct {
		name      string
		got, want any
	}{
		{"grpc_listen", c.Server.GRPCListen, "127.0.0.1:9002"},
		{"grpc_socket_mode", c.Server.GRPCSocketMode, "0600"},
		{"admin_listen", c.Server.AdminListen, ":9090"},
		{"max_request_body_bytes", c.Server.MaxRequestBodyBytes, int64(1048576)},
		{"shutdown_grace", c.Server.ShutdownGrace, 15 * time.Second},
		{"drain_delay", c.Server.DrainDelay, 10 * time.Second},
		{"upstream.service", c.Upstream.Service, "aws-mcp"},
		{"upstream.path", c.Upstream.Path, ""},
		{"jwks_url", c.OIDC.JWKSURL, ""},
		{"discovery", c.OIDC.DiscoveryURL(), "https://your-okta.okta.com/oauth2/default/.well-known/openid-configuration"},
		{"allowed_algorithms", c.OIDC.AllowedAlgorithms, []string{"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"}},
		{"clock_skew", c.OIDC.ClockSkew, 30 * time.Second},
		{"token_source", c.OIDC.TokenSource, TokenSourceHeader},
		{"metadata_key", c.OIDC.MetadataKey, "jwt_payload"},
		{"scopes_supported", c.OIDC.ResourceMetadata.ScopesSupported, []string{"openid", "email", "profile"}},
		{"role_claim", c.STS.RoleClaim, "https://aws.amazon.com/tags/principal_tags/Groups"},
		{"session_name_claim", c.STS.SessionNameClaim, "email"},
		{"session_duration", c.STS.SessionDuration, time.Hour},
		{"cache.max_entries", c.STS.Cache.MaxEntries, 10000},
		{"cache.refresh_margin", c.STS.Cache.RefreshMargin, 5 * time.Minute},
		{"scope_down", c.STS.ScopeDown, "mapping"},
		{"scope_down_config.max_action_sets", c.STS.ScopeDownConfig.MaxActionSets, 32},
		{"shared_cache.ttl_margin", c.STS.SharedCache.TTLMargin, DefaultSharedCacheTTLMargin},
		{"scope_down_config.unknown_tools", c.STS.ScopeDownConfig.UnknownTools, "refuse"},
		{"authz", c.Authz, (*Authz)(nil)},
		{"audit fsync_interval", c.Audit.FsyncInterval, time.Second},
		{"audit flush_interval", c.Audit.FlushInterval, 5 * time.Millisecond},
	}
	for _, tc := range checks {
		t.Run(tc.name, func(t *testing.T) {
			if !reflect.DeepEqual(tc.got, tc.want) {
				t.Errorf("got %#v, want %#v", tc.got, tc.want)
			}
		})
	}
}

func TestLoadFull(t *testing.T) {
	c, err := Load("testdata/valid/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := filepath.Abs("testdata/valid")
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Server: Server{
			GRPCListen:     "127.0.0.1:19002",
			GRPCSocketMode: "0660",
			GRPCTLS: GRPCTLS{
				CertFile:     filepath.Join(dir, "tls/server.pem"),
				KeyFile:      filepath.Join(dir, "tls/server-key.pem"),
				ClientCAFile: filepath.Join(dir, "tls/ca.pem"),
				AllowedSANs:  []string{"spiffe://cluster.local/ns/mcpguard/sa/envoy", "envoy.mcpguard.svc.cluster.local"},
			},
			AdminListen:         "[::1]:19090",
			MaxRequestBodyBytes: 2097152,
			ShutdownGrace:       30 * time.Second,
			DrainDelay:          3 * time.Second,
		},
		Upstream: Upstream{Host: "aws-mcp.eu-central-1.api.aws", Service: "aws-mcp", Region: "eu-central-1", Path: "/mcp"},
		OIDC: OIDC{
			Issuer:            "https://login.example.com/oauth2/default",
			Audiences:         []string{"aws-mcp", "api://mcpguard"},
			JWKSURL:           "https://login.example.com/oauth2/default/v1/keys",
			AllowedAlgorithms: []string{"RS256", "PS384", "PS512", "ES512", "EdDSA"},
			ClockSkew:         time.Minute,
			GroupClaim:        "groups",
			TokenSource:       TokenSourceEnvoyMetadata,
			MetadataKey:       "okta_payload",
			ResourceMetadata: ResourceMetadata{
				Resource:        "https://mcp.example.com/mcp",
				ScopesSupported: []string{"openid", "email", "groups"},
			},
		},
		STS: STS{
			Region:    "eu-central-1",
			RoleClaim: "https://aws.amazon.com/tags/principal_tags/Groups",
			RoleMappings: []RoleMapping{
				{
					Claim:         "s3-readers",
					RoleARN:       "arn:aws:iam::123456789012:role/mcp/S3ReadOnlyMCPRole",
					Priority:      ptr(10),
					SessionPolicy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:List*","Resource":"*"}]}`,
					SessionPolicyARNs: []string{
						"arn:aws:iam::aws:policy/ReadOnlyAccess",
						"arn:aws:iam::123456789012:policy/team/McpLimits",
					},
				},
				{
					Claim:             "ec2-viewers",
					RoleARN:           "arn:aws:iam::123456789012:role/EC2ViewOnlyMCPRole",
					Priority:          ptr(0),
					SessionPolicy:     `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:Describe*"],"Resource":"*"}]}`,
					SessionPolicyFile: filepath.Join(dir, "session-policies/ec2-describe.json"),
				},
				{Claim: "s3-readers", RoleARN: "arn:aws:iam::123456789012:role/S3FallbackRole"},
			},
			RoleARN:            "arn:aws:iam::123456789012:role/DefaultMCPRole",
			STSEndpoint:        "https://sts.eu-central-1.amazonaws.com",
			SessionNameClaim:   "preferred_username",
			EmailVerifiedClaim: "email_verified",
			SessionDuration:    2 * time.Hour,
			Cache:              Cache{MaxEntries: 500, RefreshMargin: 10 * time.Minute},
			ScopeDown:          ScopeDownMapping,
			ScopeDownConfig:    ScopeDownConfig{MaxActionSets: 32, UnknownTools: ToolScopeRefuse},
			SharedCache:        SharedCache{TTLMargin: DefaultSharedCacheTTLMargin},
		},
		Authz: &Authz{
			PolicyFiles:       []string{filepath.Join(dir, "policies/*.cedar"), filepath.Join(dir, "policies/base.cedar")},
			EntitiesFile:      filepath.Join(dir, "entities.json"),
			GroupClaim:        "cedar_groups",
			SchemaValidation:  "warn",
			SchemaFile:        filepath.Join(dir, "schema.cedarschema"),
			ShadowPolicyFiles: []string{filepath.Join(dir, "policies/base.cedar")},
			// Accepting it is the non-default value.
			AllowGuardrailRemoval: true,
			AWSAnalysis: AWSAnalysis{
				MaxScriptBytes: 32768, MaxDepth: 100, MaxNodes: 50000,
				AllowedImports: []string{"json", "datetime"},
				ReadVerbs:      []string{"Get", "List", "Describe"},
				NotReadOnly:    []string{"sts:GetSessionToken"},
			},
		},
		Upstreams: []NamedUpstream{
			{Name: "aws-eu", Host: "aws-mcp.eu-central-1.api.aws", Service: "aws-mcp", Region: "eu-central-1"},
			{Name: "aws-us", Host: "aws-mcp.us-east-1.api.aws", Service: "aws-mcp", Region: "us-east-1", Path: "/mcp"},
			{Name: "custom", Host: "mcp.internal.example.com", Service: "execute-api", Region: "eu-central-1"},
		},
		Audit: Audit{
			Enabled:          ptrBool(true),
			Output:           filepath.Join(dir, "audit/mcpguard-audit.log"),
			Fsync:            "interval",
			FsyncInterval:    500 * time.Millisecond,
			FlushInterval:    2 * time.Millisecond,
			IncludeArguments: ptrBool(false),
			RedactKeys:       []string{"password", "api_key"},
			MaxArgumentBytes: 1024,
			EventTypes:       EventTypes{Include: []string{"mcp_tool_call", "authz_denied"}, Exclude: []string{"mcp_ping"}},
			OnFailure:        "continue",
			Checkpoints: AuditCheckpoints{
				KeyFile:  filepath.Join(dir, "keys", "audit-checkpoint.pem"),
				File:     filepath.Join(dir, "audit", "mcpguard-audit.checkpoints"),
				Interval: 30 * time.Second,
			},
		},
		ToolPinning: ToolPinning{Mode: "enforce", Store: filepath.Join(dir, "state/tool-pins.json")},
		Protocol:    Protocol{SupportedVersions: defaultVersions(), DenialResponse: DenialHTTPError},
		Telemetry: Telemetry{Tracing: Tracing{
			Enabled: true, Exporter: "otlp_http", Endpoint: "http://127.0.0.1:4318", Insecure: true,
			SampleRatio: 0.25, ServiceName: "mcpguard-edge",
		}},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("full config:\ngot  %+v\nwant %+v", c, want)
	}
	paths, err := c.Authz.PolicyPaths()
	if err != nil {
		t.Fatal(err)
	}
	wantPaths := []string{filepath.Join(dir, "policies/base.cedar"), filepath.Join(dir, "policies/list.cedar")}
	if !reflect.DeepEqual(paths, wantPaths) {
		t.Errorf("PolicyPaths = %q, want %q", paths, wantPaths)
	}
}

func TestLoadSessionPolicyFile(t *testing.T) {
	c, err := Load("testdata/valid/session-policy-file.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := c.STS.RoleMappings[0]
	if want := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:Describe*"],"Resource":"*"}]}`; m.SessionPolicy != want {
		t.Errorf("SessionPolicy = %q, want %q", m.SessionPolicy, want)
	}
	if !filepath.IsAbs(m.SessionPolicyFile) || filepath.Base(m.SessionPolicyFile) != "ec2-describe.json" {
		t.Errorf("SessionPolicyFile = %q, want an absolute path to ec2-describe.json", m.SessionPolicyFile)
	}
	if c.Upstream.Host != "aws-mcp.us-gov-west-1.api.aws" || c.Upstream.Region != "us-gov-west-1" {
		t.Errorf("upstream = %+v, want host and region derived from us-gov-west-1", c.Upstream)
	}
	if c.Authz.GroupClaim != c.OIDC.GroupClaim {
		t.Errorf("authz group claim %q, want oidc group claim %q", c.Authz.GroupClaim, c.OIDC.GroupClaim)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "absent.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load(absent) error = %v, want one wrapping fs.ErrNotExist", err)
	}
}

// TestParseRelativeDir checks that relative paths resolve against the
// folder given to Parse, not the working directory.
func TestParseRelativeDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.cedar"), []byte("permit(principal, action, resource);"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sp.json"), []byte(` { "Version" : "2012-10-17" } `), 0o644); err != nil {
		t.Fatal(err)
	}
	data := []byte(`
oidc_config: {issuer: "https://idp.example.com", audience: a}
aws_sts_config:
  region: us-east-1
  role_mappings:
    - {claim: g, role_arn: "arn:aws:iam::123456789012:role/R", session_policy: sp.json}
authz_config: {policy_files: "*.cedar"}
`)
	c, err := Parse(data, dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Authz.PolicyFiles, []string{filepath.Join(dir, "*.cedar")}; !reflect.DeepEqual(got, want) {
		t.Errorf("PolicyFiles = %q, want %q", got, want)
	}
	if got := c.STS.RoleMappings[0].SessionPolicy; got != `{"Version":"2012-10-17"}` {
		t.Errorf("SessionPolicy = %q", got)
	}
	if _, err := Parse(data, t.TempDir()); err == nil {
		t.Error("Parse with a folder lacking the files succeeded")
	}
}

func TestValidateBuiltInCode(t *testing.T) {
	c := Default()
	if err := c.Validate(); err == nil {
		t.Fatal("Validate of bare defaults succeeded; issuer, audience and region are required")
	}
	c.OIDC.Issuer = "https://idp.example.com"
	c.OIDC.Audiences = []string{"aws-mcp"}
	c.OIDC.GroupClaim = "groups"
	c.STS.Region = "us-east-1"
	c.STS.RoleARN = "arn:aws:iam::123456789012:role/R"
	c.Upstream.Region = "us-east-1"
	c.Upstream.Host = "aws-mcp.us-east-1.api.aws"
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	c.STS.RoleARN = "arn:aws:iam::ACCOUNT:role/R"
	err := c.Validate()
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 1 || ps[0].Path != "aws_sts_config.role_arn" {
		t.Fatalf("Validate = %v, want one problem at aws_sts_config.role_arn", err)
	}
}

func TestProblemsError(t *testing.T) {
	ps := Problems{
		{Path: "a.b", Message: "first"},
		{Path: "c[1].d", Message: "second"},
	}
	if got, want := ps.Error(), "a.b: first\nc[1].d: second"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if Problems(nil).err() != nil {
		t.Error("empty Problems must convert to a nil error")
	}
}

func ptrBool(b bool) *bool { return &b }

func TestIdentityCenterDefaults(t *testing.T) {
	c, err := Load("testdata/valid/identity-center.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ic := c.IdentityCenter
	if ic == nil || ic.Region != "us-east-1" || len(ic.Scopes) != 1 || ic.Scopes[0] != "sso:account:access" ||
		ic.TokenRefreshMargin != DefaultIdentityCenterMargin || ic.CredentialRefreshMargin != DefaultIdentityCenterMargin ||
		ic.AssignmentsTTL != DefaultAssignmentsTTL || ic.MaxEntries != DefaultIdentityCenterCache || ic.Fallback != "sts" {
		t.Fatalf("identity_center = %+v", ic)
	}
	if m := ic.Mappings[0]; m.Account != "111111111111" || m.PermissionSet != "S3ReadOnly" || m.Priority == nil || *m.Priority != 1 {
		t.Fatalf("mapping = %+v", m)
	}
	if c2, err := Load("testdata/valid/seed.yaml"); err != nil || c2.IdentityCenter != nil {
		t.Fatalf("seed has identity_center %+v, %v", c2.IdentityCenter, err)
	}
}

func TestAuditFlushInterval(t *testing.T) {
	tests := []struct {
		value string
		want  time.Duration
		ok    bool
	}{
		{"0", 0, true},
		{"0s", 0, true},
		{"250us", 250 * time.Microsecond, true},
		{"1s", time.Second, true},
		{"1001ms", 0, false},
		{"-1ns", 0, false},
		{"soon", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			c, err := Parse([]byte(`
oidc_config: {issuer: "https://idp.example.com", audience: a}
aws_sts_config: {region: us-east-1, role_arn: "arn:aws:iam::123456789012:role/R"}
audit_config: {flush_interval: `+tt.value+`}
`), t.TempDir())
			if (err == nil) != tt.ok {
				t.Fatalf("Parse error = %v, want ok %v", err, tt.ok)
			}
			if err != nil {
				if !strings.Contains(err.Error(), "audit_config.flush_interval") {
					t.Errorf("error %q does not name audit_config.flush_interval", err)
				}
				return
			}
			if c.Audit.FlushInterval != tt.want {
				t.Errorf("FlushInterval = %s, want %s", c.Audit.FlushInterval, tt.want)
			}
		})
	}
}
