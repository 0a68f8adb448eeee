package stack

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"google.golang.org/grpc"

	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/envoy"
	"github.com/mcpguard/mcpguard/gateway"
	"github.com/mcpguard/mcpguard/test/envoysim"
	"github.com/mcpguard/mcpguard/test/fakeaws"
	"github.com/mcpguard/mcpguard/test/fakeidp"
	"github.com/mcpguard/mcpguard/test/fakesso"
	"github.com/mcpguard/mcpguard/test/fakests"
)

// The AWS account and roles of the example deployment.
const (
	Account       = "123456789012"
	S3Role        = "arn:aws:iam::123456789012:role/S3ReadOnlyMCPRole"
	EC2Role       = "arn:aws:iam::123456789012:role/EC2ViewOnlyMCPRole"
	DefaultRole   = "arn:aws:iam::123456789012:role/DefaultMCPRole"
	groupsTagKey  = "https://aws.amazon.com/tags"
	frontFixedURL = "127.0.0.1:18080"
)

// Options choose how the stack runs.
type Options struct {
	// ConfigPath is the mcpguard configuration to run (for example
	// examples/quickstart/config.yaml).
	ConfigPath string
	// Ephemeral moves every component to a free loopback port and points
	// the configuration at them, so tests can run in parallel. Without it
	// the addresses in the configuration are used as they are.
	Ephemeral bool
	// Mutate, when set, adjusts the loaded configuration before mcpguard
	// starts.
	Mutate func(*config.Config)
	// Logger receives mcpguard's logs; nil discards them.
	Logger *slog.Logger
	// FakeAWSJSON makes the fake AWS MCP Server answer POSTs with JSON
	// instead of SSE.
	FakeAWSJSON bool
	// CredentialLifetime overrides how long fake STS credentials live.
	CredentialLifetime time.Duration
	// Filter overrides the Envoy ext_proc filter configuration; nil uses
	// the one the bootstrap generator emits (EnvoyFilter).
	Filter *extprocfilterv3.ExternalProcessor
	// Now is mcpguard's clock; nil means time.Now.
	Now func() time.Time
	// AuditWriter receives mcpguard's audit trail instead of the
	// configured output.
	AuditWriter io.Writer
	// ExtraTools are more tools the fake AWS MCP Server offers.
	ExtraTools []fakeaws.ExtraTool
	// FakeAWSStateless serves MCP without sessions (revision 2026-07-28).
	FakeAWSStateless bool
	// FakeAWSConfigure adds to the fake AWS MCP Server (test tools).
	FakeAWSConfigure func(*mcp.Server)
	// GRPCTLS, when set, is the Envoy stand-in's UpstreamTlsContext to
	// mcpguard (client certificate, server CA and name); nil dials
	// plaintext. Set server.grpc_tls through Mutate to match.
	GRPCTLS *tls.Config
	// IdentityCenter runs the fake IAM Identity Center and configures
	// identity_center (IdentityCenterConfig unless the file has one).
	IdentityCenter bool
	// ResourceMetadata keeps protected resource metadata on in Ephemeral
	// mode: the resource identifier becomes the Envoy stand-in's MCP URL,
	// so an MCP client that gets a 401 can find the identity provider's
	// login (the OAuth flow of real clients).
	ResourceMetadata bool
	// Process, when set, runs mcpguard as a separate `mcpguard serve`
	// process from the file at ConfigPath (with the fakes' addresses)
	// instead of in this process; Gateway stays nil. It needs Ephemeral.
	Process *Process
	// FrontClient is the Envoy stand-in's client to the upstream; nil is
	// envoysim's default.
	FrontClient *http.Client
}

// Stack is the running flow. Close stops everything.
type Stack struct {
	Config  *config.Config
	IdP     *fakeidp.IdP
	STS     *fakests.Server
	SSO     *fakesso.Server // with Options.IdentityCenter
	AWS     *fakeaws.Server
	Gateway *gateway.Gateway
	Front   *envoysim.Front
	Filter  *envoysim.Filter
	// AdminURL is mcpguard's admin server (/readyz, /metrics) with
	// Options.Process.
	AdminURL string
	// Startup is the time from exec to /readyz answering 200 with
	// Options.Process.
	Startup time.Duration

	conn   *grpc.ClientConn
	cancel context.CancelFunc
	done   chan error

	proc *proc // with Options.Process

	extraIdPs   []*fakeidp.IdP          // oidc_providers after the first
	providerIdP map[string]*fakeidp.IdP // by provider name

	mu          sync.Mutex
	exchanges   []*envoysim.Exchange
	tokens      map[string]string // LoginToken's, per user name
	extraFronts []*envoysim.Front
	closed      bool
}

// EnvoyFilter is the ext_proc filter configuration the bootstrap generator
// emits for cfg (envoy.ExtProcFilter): the stand-in runs with exactly what
// production Envoy runs with. A nil cfg is a configuration with
// token_source header.
func EnvoyFilter(cfg *config.Config) *extprocfilterv3.ExternalProcessor {
	return envoy.ExtProcFilter(cfg)
}

// BufferLimit is the generated listener's per_connection_buffer_limit_bytes
// for cfg (envoy.BufferLimit), the envoysim BufferLimit of every stand-in.
func BufferLimit(cfg *config.Config) int {
	n, err := envoy.BufferLimit(cfg)
	if err != nil {
		// config.Validate bounds max_request_body_bytes far below this.
		panic(err)
	}
	return int(n)
}

// Start brings the stack up and waits until mcpguard is ready.
func Start(ctx context.Context, o Options) (s *Stack, err error) {
	if o.Process != nil {
		if err := checkProcess(o); err != nil {
			return nil, err
		}
	}
	cfg, err := config.Load(o.ConfigPath)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", o.ConfigPath, err)
	}
	built := &Stack{Config: cfg}
	s = built
	defer func() {
		// "return nil, err" has already cleared s: close what was built.
		if err != nil {
			built.Close()
		}
	}()

	idpAddr, stsAddr, awsAddr, frontAddr := "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	if !o.Ephemeral {
		first := cfg.OIDC.Issuer
		if cfg.HasProviders() {
			first = cfg.OIDCProviders[0].Issuer
		}
		if idpAddr, err = hostPort(first); err != nil {
			return nil, err
		}
		if stsAddr, err = hostPort(cfg.STS.STSEndpoint); err != nil {
			return nil, err
		}
		awsAddr, frontAddr = "127.0.0.1:18402", frontFixedURL
	}

	if s.IdP, err = fakeidp.New(fakeidp.WithAddr(idpAddr)); err != nil {
		return nil, fmt.Errorf("start identity provider: %w", err)
	}
	audiences := cfg.OIDC.Audiences
	if !cfg.HasProviders() {
		cfg.OIDC.Issuer = s.IdP.URL()
	}
	issuers, err := s.providerIdPs(cfg, o.Ephemeral)
	if err != nil {
		return nil, err
	}
	var trusted []string
	for iss := range issuers {
		trusted = append(trusted, iss)
	}
	for _, p := range cfg.OIDCProviders {
		audiences = append(audiences, p.Audiences...)
	}
	if err := s.enableLogin(); err != nil {
		return nil, err
	}

	roles := map[string]fakests.Role{}
	for _, arn := range []string{S3Role, EC2Role, DefaultRole} {
		roles[arn] = fakests.Role{
			TrustedIssuer:      s.IdP.URL(),
			TrustedIssuers:     trusted,
			Audiences:          audiences,
			AllowTagSession:    true,
			MaxSessionDuration: 12 * time.Hour,
		}
	}
	// The fake STS resolves identity contexts with the fake Identity
	// Center, which starts after it.
	var ssoRef atomic.Pointer[fakesso.Server]
	stsOpts := fakests.Options{
		Addr: stsAddr, JWKSURL: s.IdP.JWKSURL(), Roles: roles, CredentialLifetime: o.CredentialLifetime,
		IssuerJWKS: issuers,
	}
	if o.IdentityCenter {
		// Identity-bearer roles for trusted identity propagation.
		stsOpts.Callers = gatewayCaller
		stsOpts.AssumeRoleTrust = map[string]fakests.AssumeRoleTrust{
			DevBearerRole:  {Principals: []string{GatewayRoleARN}, AllowSetContext: true},
			ProdBearerRole: {Principals: []string{GatewayRoleARN}},
		}
		stsOpts.IdentityContexts = func(a string) (string, bool) {
			if sso := ssoRef.Load(); sso != nil {
				return sso.IdentityContext(a)
			}
			return "", false
		}
	}
	if s.STS, err = fakests.New(stsOpts); err != nil {
		return nil, fmt.Errorf("start STS: %w", err)
	}
	cfg.STS.STSEndpoint = s.STS.URL()

	permissions := map[string][]string{S3Role: {"s3"}, EC2Role: {"ec2"}}
	var gatewayCreds aws.CredentialsProvider
	if o.IdentityCenter {
		if gatewayCreds, err = s.startIdentityCenter(cfg); err != nil {
			return nil, err
		}
		ssoRef.Store(s.SSO)
		s.ssoPermissions(permissions)
	}
	if s.AWS, err = fakeaws.New(fakeaws.Options{
		Addr:         awsAddr,
		Region:       cfg.Upstream.Region,
		Service:      cfg.Upstream.Service,
		Path:         cfg.Upstream.Path,
		Lookup:       s.FakeAWSLookup,
		Permissions:  permissions,
		JSONResponse: o.FakeAWSJSON,
		ExtraTools:   o.ExtraTools,
		Stateless:    o.FakeAWSStateless,
		Configure:    o.FakeAWSConfigure,
		// The legacy aws___call_aws next to today's tools: the
		// quickstart and the tests show policies for both.
		LegacyCallAWS: true,
	}); err != nil {
		return nil, fmt.Errorf("start AWS MCP server: %w", err)
	}

	var frontLn net.Listener
	if o.Ephemeral {
		cfg.Server.GRPCListen = "127.0.0.1:0"
		cfg.Server.AdminListen = "127.0.0.1:0"
		cfg.OIDC.ResourceMetadata.Resource = ""
		if o.ResourceMetadata {
			if frontLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
				return nil, fmt.Errorf("listen for envoy stand-in: %w", err)
			}
			cfg.OIDC.ResourceMetadata.Resource = "http://" + frontLn.Addr().String() + cfg.Upstream.Path
			defer func() {
				if built.Front == nil {
					frontLn.Close() // never handed to the front
				}
			}()
		}
	}
	// No Envoy health-checks the stand-in's mcpguard, so Close need not
	// wait out a drain (gateway's own tests cover it); Mutate may set one.
	cfg.Server.DrainDelay = 0
	if o.Mutate != nil {
		o.Mutate(cfg)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("configuration after overrides: %w", err)
	}
	var grpcAddr string
	if o.Process != nil {
		if grpcAddr, err = s.startProcess(ctx, o); err != nil {
			return nil, err
		}
		cfg = s.Config
	} else {
		if s.Gateway, err = gateway.New(ctx, cfg, gateway.Options{Logger: o.Logger, Now: o.Now, AuditWriter: o.AuditWriter, ConfigPath: o.ConfigPath, AWSCredentials: gatewayCreds}); err != nil {
			return nil, fmt.Errorf("start mcpguard: %w", err)
		}
		runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		s.cancel = cancel
		s.done = make(chan error, 1)
		go func() { s.done <- s.Gateway.Run(runCtx) }()
		if err := s.waitReady(ctx); err != nil {
			return nil, err
		}
		grpcAddr = s.Gateway.GRPCAddr()
	}

	if s.conn, err = envoysim.Dial(grpcAddr, o.GRPCTLS); err != nil {
		return nil, err
	}
	filter := o.Filter
	if filter == nil {
		filter = EnvoyFilter(cfg)
	}
	if s.Filter, err = envoysim.New(s.conn, envoysim.Config{Filter: filter, BufferLimit: BufferLimit(cfg)}); err != nil {
		return nil, fmt.Errorf("configure envoy stand-in: %w", err)
	}
	awsURL, _ := url.Parse(s.AWS.URL())
	if s.Front, err = envoysim.NewFront(envoysim.FrontConfig{
		Addr:        frontAddr,
		Listener:    frontLn,
		Filter:      s.Filter,
		Upstream:    awsURL.Scheme + "://" + awsURL.Host,
		HostRewrite: cfg.Upstream.Host,
		OnExchange:  s.record,
		Client:      o.FrontClient,
	}); err != nil {
		return nil, fmt.Errorf("start envoy stand-in: %w", err)
	}
	return s, nil
}

// Route is one more Envoy route in front of mcpguard: its own ext_proc
// per-route gRPC initial metadata, upstream cluster and host rewrite.
type Route struct {
	GRPCInitialMetadata map[string]string
	Upstream            string // http://host:port of the upstream cluster
	HostRewrite         string
}

// AddRoute starts another Envoy stand-in front sharing mcpguard, for tests
// of per-route upstreams. It is closed with the stack.
func (s *Stack) AddRoute(r Route) (*envoysim.Front, error) {
	f, err := envoysim.New(s.conn, envoysim.Config{Filter: EnvoyFilter(s.Config), GRPCInitialMetadata: r.GRPCInitialMetadata, BufferLimit: BufferLimit(s.Config)})
	if err != nil {
		return nil, err
	}
	fr, err := envoysim.NewFront(envoysim.FrontConfig{Filter: f, Upstream: r.Upstream, HostRewrite: r.HostRewrite, OnExchange: s.record})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.extraFronts = append(s.extraFronts, fr)
	s.mu.Unlock()
	return fr, nil
}

// FakeAWSLookup resolves access keys the fake STS (or the fake Identity
// Center portal) issued, for additional fake AWS servers.
func (s *Stack) FakeAWSLookup(akid string) (fakeaws.Credential, bool) {
	if s.SSO != nil {
		if c, ok := s.SSO.Issued(akid); ok {
			return fakeaws.Credential{
				AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken,
				RoleARN: c.RoleARN, SessionName: c.SessionName, Expiration: c.Expiration,
			}, true
		}
	}
	c, ok := s.STS.Issued(akid)
	return fakeaws.Credential{
		AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken,
		RoleARN: c.RoleARN, SessionName: c.SessionName, Expiration: c.Expiration,
		SessionPolicy: c.SessionPolicy,
	}, ok
}

func (s *Stack) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	for !s.Gateway.Ready() {
		if time.Now().After(deadline) {
			return errors.New("mcpguard not ready after 10s")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

func (s *Stack) record(ex *envoysim.Exchange) {
	s.mu.Lock()
	s.exchanges = append(s.exchanges, ex)
	s.mu.Unlock()
}

// Exchanges returns every request the Envoy stand-in has answered so far.
func (s *Stack) Exchanges() []*envoysim.Exchange {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*envoysim.Exchange(nil), s.exchanges...)
}

// MCPURL is the MCP endpoint clients use: the Envoy stand-in.
func (s *Stack) MCPURL() string { return s.Front.URL() + s.Config.Upstream.Path }

// Close stops every component, mcpguard first. It may be called more than
// once (a test may stop the stack early to read what it flushed).
func (s *Stack) Close() {
	s.mu.Lock()
	closed := s.closed
	s.closed = true
	s.mu.Unlock()
	if closed {
		return
	}
	if s.Front != nil {
		s.Front.Close()
	}
	for _, f := range s.extraFronts {
		f.Close()
	}
	if s.conn != nil {
		s.conn.Close()
	}
	if s.cancel != nil {
		s.cancel()
		<-s.done //nolint:errcheck // Close has nothing to report it to; Restart returns it
	}
	if s.proc != nil {
		s.proc.stop()
	}
	if s.AWS != nil {
		s.AWS.Close()
	}
	if s.STS != nil {
		s.STS.Close()
	}
	if s.SSO != nil {
		s.SSO.Close()
	}
	if s.IdP != nil {
		s.IdP.Close()
	}
	for _, p := range s.extraIdPs {
		p.Close()
	}
}

func hostPort(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%q is not a URL with a host", raw)
	}
	return u.Host, nil
}

// User is a person of the example company.
type User struct {
	Name   string
	Groups []string
}

// The example's people.
var (
	Alice = User{Name: "alice", Groups: []string{"s3-readers", "Everyone"}}
	Bob   = User{Name: "bob", Groups: []string{"ec2-viewers", "Everyone"}}
	Dana  = User{Name: "dana", Groups: []string{"data-analysts", "Everyone"}}
	Eve   = User{Name: "eve", Groups: []string{"Everyone"}}
)

// Claims are the claims the IdP puts in u's token: the groups travel as the
// AWS principal tag Groups ("s3-readers:Everyone"), so the same value selects
// the role in mcpguard and reaches AWS as a session tag.
func (s *Stack) Claims(u User) map[string]any {
	aud := ""
	if len(s.Config.OIDC.Audiences) > 0 {
		aud = s.Config.OIDC.Audiences[0]
	} else if len(s.Config.OIDCProviders) > 0 {
		aud = s.Config.OIDCProviders[0].Audiences[0]
	}
	c := s.IdP.Claims(u.Name, aud)
	c[groupsTagKey] = map[string]any{
		"principal_tags":      map[string]any{"Groups": []any{strings.Join(u.Groups, ":")}},
		"transitive_tag_keys": []any{"Groups"},
	}
	return c
}

// LoginUsers are the people the identity provider's login page offers.
var LoginUsers = []User{Alice, Bob, Dana}

// enableLogin turns on the identity provider's OAuth authorization server
// (the login of MCP clients such as Claude Code and the MCP Inspector),
// issuing tokens with the same claims as Token.
func (s *Stack) enableLogin() error {
	users := make([]fakeidp.LoginUser, 0, len(LoginUsers))
	byName := map[string]User{}
	for _, u := range LoginUsers {
		users = append(users, fakeidp.LoginUser{Name: u.Name, Label: title(u.Name) + " (" + u.Groups[0] + ")"})
		byName[u.Name] = u
	}
	if err := s.IdP.EnableLogin(fakeidp.LoginConfig{
		Users:  users,
		Claims: func(name string) map[string]any { return s.Claims(byName[name]) },
	}); err != nil {
		return fmt.Errorf("start identity provider: %w", err)
	}
	return nil
}

func title(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

// Token mints u's access token.
func (s *Stack) Token(u User) (string, error) { return s.IdP.Mint(s.Claims(u)) }

// LoginToken is u's token for the life of the stack, minted once, as a
// client that logged in once keeps it. mcpguard binds cached AWS
// credentials to the token that obtained them, so a token minted anew
// (another iat) costs an STS call that a real client would not cause.
func (s *Stack) LoginToken(u User) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if tok, ok := s.tokens[u.Name]; ok {
		return tok, nil
	}
	tok, err := s.Token(u)
	if err != nil {
		return "", err
	}
	if s.tokens == nil {
		s.tokens = map[string]string{}
	}
	s.tokens[u.Name] = tok
	return tok, nil
}

// HTTPClient returns a client that sends token as a bearer token, as an MCP
// client does after logging in.
func HTTPClient(token string) *http.Client {
	return &http.Client{Transport: &bearer{token: token, next: http.DefaultTransport}, Timeout: 30 * time.Second}
}

type bearer struct {
	token string
	next  http.RoundTripper
}

func (b *bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if b.token != "" {
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return b.next.RoundTrip(r)
}
