package e2e

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/test/fakeaws"
	"github.com/mcpguard/mcpguard/test/stack"
)

// TestPerRouteUpstreams: one gateway in front of the AWS MCP Server in two
// regions; Envoy names each route's upstream in gRPC initial metadata and
// each region's server verifies a signature scoped to its own host and
// region.
func TestPerRouteUpstreams(t *testing.T) {
	s, _ := startStack(t, stack.Options{Mutate: func(c *config.Config) {
		c.Upstreams = []config.NamedUpstream{
			{Name: "us", Host: "aws-mcp.us-east-1.api.aws", Region: "us-east-1", Service: "aws-mcp", Path: "/mcp"},
			{Name: "eu", Host: "aws-mcp.eu-central-1.api.aws", Region: "eu-central-1", Service: "aws-mcp", Path: "/mcp"},
		}
	}})
	eu, err := fakeaws.New(fakeaws.Options{Region: "eu-central-1", Lookup: s.FakeAWSLookup, LegacyCallAWS: true,
		Permissions: map[string][]string{stack.S3Role: {"s3"}, stack.EC2Role: {"ec2"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer eu.Close()

	routes := []struct {
		name   string
		server *fakeaws.Server
		host   string
	}{
		{"us", s.AWS, "aws-mcp.us-east-1.api.aws"},
		{"eu", eu, "aws-mcp.eu-central-1.api.aws"},
	}
	for _, r := range routes {
		t.Run(r.name, func(t *testing.T) {
			u, _ := url.Parse(r.server.URL())
			front, err := s.AddRoute(stack.Route{
				GRPCInitialMetadata: map[string]string{"x-mcpguard-upstream": r.name},
				Upstream:            u.Scheme + "://" + u.Host,
				HostRewrite:         r.host,
			})
			if err != nil {
				t.Fatal(err)
			}
			tok, _ := s.Token(stack.Alice)
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			cs, err := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil).Connect(ctx, &mcp.StreamableClientTransport{
				Endpoint: front.URL() + "/mcp", HTTPClient: stack.HTTPClient(tok), DisableStandaloneSSE: true, MaxRetries: -1,
			}, nil)
			if err != nil {
				t.Fatalf("connect through the %s route: %v", r.name, err)
			}
			defer cs.Close()
			if res, err := callAWS(cs, "aws s3 ls"); err != nil || res.IsError {
				t.Fatalf("call through the %s route: %v %+v", r.name, err, res)
			}
			if len(r.server.Requests()) == 0 || len(r.server.Rejections()) != 0 {
				t.Errorf("%s server: %d accepted, %d rejected", r.name, len(r.server.Requests()), len(r.server.Rejections()))
			}
		})
	}

	// The stack's own front names no upstream: a configuration error.
	tok, _ := s.Token(stack.Alice)
	if r := postJSON(t, s, tok, initializeBody); r.status != 500 {
		t.Fatalf("a route without an upstream name got %d, want 500: %s", r.status, r.body)
	}
}
