package e2e

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpguard/mcpguard/test/fakeidp"
	"github.com/mcpguard/mcpguard/test/stack"
)

const providersConfig = "../../examples/quickstart/providers.yaml"

func startProviders(t *testing.T, audit io.Writer) *stack.Stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := stack.Start(ctx, stack.Options{
		ConfigPath: providersConfig, Ephemeral: true, AuditWriter: audit,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func connectAt(t *testing.T, s *stack.Stack, provider string, u stack.User) *mcp.ClientSession {
	t.Helper()
	tok, err := s.ProviderToken(provider, u)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "e2e-" + provider + "-" + u.Name, Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint: s.MCPURL(), HTTPClient: stack.HTTPClient(tok), DisableStandaloneSSE: true, MaxRetries: -1,
	}, nil)
	if err != nil {
		t.Fatalf("%s/%s: connect: %v", provider, u.Name, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// TestTwoProviders runs the seed's Alice/Bob matrix for the employees'
// Okta and the contractors' Entra ID tenant through one gateway. The
// contractors share their subs with the employees, and get only what the
// contractor policies and role mappings grant.
func TestTwoProviders(t *testing.T) {
	trail := &stack.Buffer{}
	s := startProviders(t, trail)
	const s3, s3Write, ec2 = "aws s3 ls", "aws s3 cp README.md s3://mcpguard-demo-reports/x", "aws ec2 describe-instances"
	for _, c := range []struct {
		provider string
		user     stack.User
		allowed  map[string]bool
		role     string
	}{
		{"okta", stack.Alice, map[string]bool{s3: true, ec2: false}, stack.S3Role},
		{"okta", stack.Bob, map[string]bool{s3: false, ec2: true}, stack.EC2Role},
		{"contractors", stack.Alice, map[string]bool{s3: true, s3Write: false, ec2: false}, stack.S3Role},
		{"contractors", stack.Bob, map[string]bool{s3: false, ec2: true}, stack.EC2Role},
	} {
		t.Run(c.provider+"/"+c.user.Name, func(t *testing.T) {
			cs := connectAt(t, s, c.provider, c.user)
			for cmd, want := range c.allowed {
				res, err := callAWS(cs, cmd)
				if got := !deniedByGateway(res, err); got != want {
					t.Errorf("%s: allowed = %v, want %v (%v)", cmd, got, want, err)
				}
			}
		})
	}
	// Every request that reached AWS was signed with the role of its own
	// provider's mapping, under that provider's session name.
	sessions := map[string]string{}
	for _, r := range s.AWS.Requests() {
		if r.RoleARN != "" {
			sessions[r.SessionName] = r.RoleARN
		}
	}
	for name, role := range map[string]string{
		"alice@example.com": stack.S3Role, "bob@example.com": stack.EC2Role,
		"alice@contractors.example": stack.S3Role, "bob@contractors.example": stack.EC2Role,
	} {
		if sessions[name] != role {
			t.Errorf("session %s signed as %q, want %s (all: %v)", name, sessions[name], role, sessions)
		}
	}
	// Audit records name the provider, so the two alices are told apart.
	providers := map[string]bool{}
	for line := range strings.Lines(trail.String()) {
		var ev struct {
			User *struct {
				Sub      string `json:"sub"`
				Provider string `json:"provider"`
				Tenant   string `json:"tenant"`
			} `json:"user"`
		}
		if json.Unmarshal([]byte(line), &ev) == nil && ev.User != nil && ev.User.Sub == "alice" {
			providers[ev.User.Provider+"/"+ev.User.Tenant] = true
		}
	}
	p, _ := s.Provider("contractors")
	if !providers["okta/"] || !providers["contractors/"+p.Tenants[0]] {
		t.Errorf("audit providers of alice = %v", providers)
	}
}

// A token of an issuer no provider names is refused before any key is
// fetched; a contractor token signed with the employees' IdP key is refused;
// an Entra groups overage is a 403 that says what to configure.
func TestProvidersRefuseForeignTokens(t *testing.T) {
	s := startProviders(t, io.Discard)
	p, _ := s.Provider("contractors")
	claims := s.Claims(stack.Alice)
	claims["iss"] = strings.ReplaceAll(p.Issuer, "{tenantid}", p.Tenants[0])
	claims["tid"] = p.Tenants[0]
	claims["aud"] = p.Audiences[0]
	forged, err := s.IdP.Mint(claims) // the okta fake's key
	if err != nil {
		t.Fatal(err)
	}
	claims["iss"] = "https://login.microsoftonline.com/" + p.Tenants[0] + "/v2.0"
	unknown, err := s.IdP.Mint(claims)
	if err != nil {
		t.Fatal(err)
	}
	idp := s.ProviderIdP("contractors")
	overage, err := idp.Mint(idp.ProfileClaims(fakeidp.EntraV2, fakeidp.User{Subject: "carol", Tenant: p.Tenants[0], Audience: p.Audiences[0], Overage: true}))
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		tok    string
		status int
		says   string
	}{
		"signed by the other provider": {forged, http.StatusUnauthorized, ""},
		"unknown issuer":               {unknown, http.StatusUnauthorized, ""},
		"entra groups overage":         {overage, http.StatusForbidden, "group filtering"},
	} {
		tok := c.tok
		t.Run(name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.MCPURL(), strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			resp, err := stack.HTTPClient(tok).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || !strings.Contains(string(body), c.says) {
				t.Errorf("status %d %s, want %d saying %q", resp.StatusCode, body, c.status, c.says)
			}
		})
	}
}
