package envoy_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/envoy"
	"github.com/mcpguard/mcpguard/gateway"
	"github.com/mcpguard/mcpguard/test/envoysim"
	"github.com/mcpguard/mcpguard/test/fakeaws"
	"github.com/mcpguard/mcpguard/test/fakeidp"
	"github.com/mcpguard/mcpguard/test/fakests"
	teststack "github.com/mcpguard/mcpguard/test/stack"
)

const (
	e2eAudience = "aws-mcp"
	s3Role      = "arn:aws:iam::123456789012:role/S3ReadOnlyMCPRole"
	ec2Role     = "arn:aws:iam::123456789012:role/EC2ViewOnlyMCPRole"
)

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// stack is mcpguard with its fakes: an IdP, STS, and an AWS MCP Server that
// verifies every SigV4 signature against the credentials STS issued.
type stack struct {
	cfg      *config.Config
	idp      *fakeidp.IdP
	sts      *fakests.Server
	aws      *fakeaws.Server
	grpcAddr string
	awsAddr  string
}

func startStack(t *testing.T, ctx context.Context) *stack {
	t.Helper()
	idp, err := fakeidp.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idp.Close() })
	sts, err := fakests.New(fakests.Options{
		JWKSURL: idp.JWKSURL(),
		Roles: map[string]fakests.Role{
			s3Role:  {TrustedIssuer: idp.URL(), Audiences: []string{e2eAudience}},
			ec2Role: {TrustedIssuer: idp.URL(), Audiences: []string{e2eAudience}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sts.Close() })
	aws, err := fakeaws.New(fakeaws.Options{
		Lookup: func(id string) (fakeaws.Credential, bool) {
			c, ok := sts.Issued(id)
			return fakeaws.Credential{
				AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken,
				RoleARN: c.RoleARN, SessionName: c.SessionName, Expiration: c.Expiration,
			}, ok
		},
		Permissions:   map[string][]string{s3Role: {"s3"}, ec2Role: {"ec2"}},
		LegacyCallAWS: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = aws.Close() })

	dir := t.TempDir()
	policies, err := filepath.Abs(filepath.Join("..", "examples", "policies"))
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "mcpguard.yaml")
	cfgText := fmt.Sprintf(`server:
  grpc_listen: 127.0.0.1:0
  admin_listen: 127.0.0.1:0
oidc_config:
  issuer: %s
  audience: %s
aws_sts_config:
  region: us-east-1
  sts_endpoint: %s
  role_claim: groups
  role_mappings:
    - claim: s3-readers
      role_arn: %s
    - claim: ec2-viewers
      role_arn: %s
authz_config:
  policy_files: [%q, %q]
audit_config:
  enabled: false
`, idp.URL(), e2eAudience, sts.URL(), s3Role, ec2Role,
		filepath.Join(policies, "baseline.cedar"), filepath.Join(policies, "alice-bob.cedar"))
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	cfg.Server.DrainDelay = 0 // Envoy is stopped first; nothing to drain for
	g, err := gateway.New(ctx, cfg, gateway.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	runDone := make(chan error, 1)
	gctx, stopGateway := context.WithCancel(ctx)
	go func() { runDone <- g.Run(gctx) }()
	t.Cleanup(func() {
		stopGateway()
		if err := <-runDone; err != nil {
			t.Errorf("gateway: %v", err)
		}
	})
	awsAddr := strings.TrimSuffix(strings.TrimPrefix(aws.URL(), "http://"), fakeaws.DefaultPath)
	return &stack{cfg: cfg, idp: idp, sts: sts, aws: aws, grpcAddr: g.GRPCAddr(), awsAddr: awsAddr}
}

// loopbackBootstrap generates the bootstrap for the stack, with plain HTTP
// to the fake AWS server in place of TLS to AWS.
func (s *stack) loopbackBootstrap(t *testing.T, listen, admin string) []byte {
	t.Helper()
	b, err := envoy.Bootstrap(s.cfg, envoy.BootstrapOptions{
		Listen: listen, AdminAddress: admin, MCPGuardAddress: s.grpcAddr,
		UpstreamPlainHTTP: true, UpstreamAddress: s.awsAddr,
	})
	if err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	y, err := envoy.MarshalYAML(b)
	if err != nil {
		t.Fatal(err)
	}
	return y
}

func (s *stack) token(t *testing.T, sub string, groups ...string) string {
	t.Helper()
	tok, err := s.idp.Mint(s.idp.Claims(sub, e2eAudience, groups...))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// aliceAndBob is the brief's scenario against an Envoy (real or simulated)
// listening at endpoint: Alice (s3-readers) may list S3 but not EC2, Bob
// (ec2-viewers) the reverse, an anonymous client gets 401, and every
// request that reaches the fake AWS MCP Server carries a valid SigV4
// signature by the user's role.
func (s *stack) aliceAndBob(t *testing.T, ctx context.Context, endpoint string) (tokens []string) {
	t.Helper()
	alice, bob := s.token(t, "alice", "s3-readers"), s.token(t, "bob", "ec2-viewers")
	t.Run("anonymous is refused", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", resp.StatusCode)
		}
	})
	tests := []struct {
		user, token, command string
		allowed              bool
		role                 string
	}{
		{"alice", alice, "aws s3 ls", true, s3Role},
		{"alice", alice, "aws ec2 describe-instances", false, ""},
		{"bob", bob, "aws ec2 describe-instances", true, ec2Role},
		{"bob", bob, "aws s3 ls", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.user+" "+tc.command, func(t *testing.T) {
			before := len(s.aws.Requests())
			session := connect(t, ctx, endpoint, tc.token)
			res, err := session.CallTool(ctx, &mcp.CallToolParams{
				Name:      fakeaws.ToolCallAWS,
				Arguments: map[string]any{"cli_command": tc.command},
			})
			if !tc.allowed {
				if err == nil && !res.IsError {
					t.Fatalf("%s may not run %q, but the call succeeded", tc.user, tc.command)
				}
				for _, r := range s.aws.Requests()[before:] {
					if strings.Contains(string(r.Body), tc.command) {
						t.Errorf("denied command reached the upstream: %s", r.Body)
					}
				}
				return
			}
			if err != nil || res.IsError {
				t.Fatalf("%s runs %q: %v %v", tc.user, tc.command, err, res)
			}
			var signed bool
			for _, r := range s.aws.Requests()[before:] {
				if strings.Contains(string(r.Body), tc.command) {
					signed = r.RoleARN == tc.role && strings.HasPrefix(r.SessionName, tc.user)
				}
			}
			if !signed {
				t.Errorf("no upstream request for %q signed with %s for %s", tc.command, tc.role, tc.user)
			}
		})
	}
	if rej := s.aws.Rejections(); len(rej) > 0 {
		t.Errorf("the upstream rejected %d request(s) that passed Envoy, first: %d %s %s", len(rej), rej[0].Status, rej[0].ErrorType, rej[0].Message)
	}
	return []string{alice, bob}
}

// TestRealEnvoy runs the scenario through a real Envoy started with the
// generated bootstrap. Envoy runs at debug level with the generated
// component log levels, and its log must hold no token and no signature.
func TestRealEnvoy(t *testing.T) {
	bin := os.Getenv("ENVOY_BIN")
	if bin == "" {
		t.Skip("ENVOY_BIN is not set: set it to an Envoy binary (1.36 or later) to run the generated bootstrap through the real data plane")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	s := startStack(t, ctx)
	listen, admin := freePort(t), freePort(t)
	bootstrapPath := filepath.Join(t.TempDir(), "envoy.yaml")
	if err := os.WriteFile(bootstrapPath, s.loopbackBootstrap(t, listen, admin), 0o600); err != nil {
		t.Fatal(err)
	}

	// Debug overall, so the test proves the component levels keep
	// credentials out of the log.
	args := envoy.CommandLine(bootstrapPath)
	args[slices.Index(args, "--log-level")+1] = "debug"
	args = append(args, "--disable-hot-restart", "--concurrency", "1")
	cmd := exec.CommandContext(ctx, bin, args...)
	var envoyLog teststack.Buffer
	cmd.Stdout, cmd.Stderr = &envoyLog, &envoyLog
	if err := cmd.Start(); err != nil {
		t.Fatalf("start envoy: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("envoy log:\n%s", envoyLog.String())
		}
	})
	waitReady(t, ctx, "http://"+admin+"/ready")

	tokens := s.aliceAndBob(t, ctx, "http://"+listen+envoy.DefaultRoutePrefix)
	secrets := append(tokens, "Signature=")
	for _, c := range s.sts.Calls() {
		if cred, ok := s.sts.Issued(c.AccessKeyID); ok {
			secrets = append(secrets, cred.SessionToken, cred.SecretAccessKey)
		}
	}
	log := envoyLog.String()
	for _, secret := range secrets {
		if strings.Contains(log, secret) {
			t.Errorf("Envoy's log holds a credential (%.12s...) despite the component log levels", secret)
		}
	}
}

func waitReady(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("envoy not ready at %s: %v", url, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// bearer adds the user's token to every request of the MCP client.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

func connect(t *testing.T, ctx context.Context, endpoint, token string) *mcp.ClientSession {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "envoy-e2e", Version: "test"}, nil)
	session, err := client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:   endpoint,
		HTTPClient: &http.Client{Transport: bearer{token: token, next: http.DefaultTransport}},
		MaxRetries: -1,
	}, nil)
	if err != nil {
		t.Fatalf("connect through envoy: %v", err)
	}
	t.Cleanup(func() { _ = session.Close() })
	return session
}

// TestBootstrapThroughEnvoySim plays the same scenario through the
// project's Envoy simulator, configured from the generated bootstrap: its
// ext_proc filter, buffer limit, and the route's match, host rewrite and
// timeout. It runs everywhere, so the generated configuration is exercised
// end to end even where no Envoy binary exists.
func TestBootstrapThroughEnvoySim(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	s := startStack(t, ctx)
	b, err := envoy.ParseBootstrap(s.loopbackBootstrap(t, "127.0.0.1:8080", "127.0.0.1:9901"))
	if err != nil {
		t.Fatal(err)
	}
	p := dig(t, b)
	route := p.routes["mcp"]
	up := p.clusters[route.GetRoute().GetCluster()]
	ep := up.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
	ext := p.clusters[envoy.ExtProcClusterName].GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()

	conn, err := grpc.NewClient(net.JoinHostPort(ext.GetAddress(), fmt.Sprint(ext.GetPortValue())), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	f, err := envoysim.New(conn, envoysim.Config{
		Filter:      p.extProc,
		BufferLimit: int(b.GetStaticResources().GetListeners()[0].GetPerConnectionBufferLimitBytes().GetValue()),
		Attributes:  map[string]any{"source.address": "127.0.0.1:40000"},
	})
	if err != nil {
		t.Fatalf("envoysim.New(generated ext_proc config): %v", err)
	}
	fr, err := envoysim.NewFront(envoysim.FrontConfig{
		Filter:       f,
		Upstream:     "http://" + net.JoinHostPort(ep.GetAddress(), fmt.Sprint(ep.GetPortValue())),
		HostRewrite:  route.GetRoute().GetHostRewriteLiteral(),
		PrefixMatch:  route.GetMatch().GetPathSeparatedPrefix(),
		RouteTimeout: route.GetRoute().GetTimeout().AsDuration(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fr.Close() })
	s.aliceAndBob(t, ctx, fr.URL()+route.GetMatch().GetPathSeparatedPrefix())
}
