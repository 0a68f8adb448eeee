package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/test/fakeaws"
	"github.com/mcpguard/mcpguard/test/stack"
)

// Tools of the era tests: one whose region argument is mirrored in the
// Mcp-Param-Region header, one that asks the user to confirm (a Multi
// Round-Trip Request in 2026-07-28, a server-sent elicitation before).
const (
	toolRegionEcho = "region_echo"
	toolConfirm    = "confirm_deploy"
)

const erasPolicy = `
@id("everyone-era-tools")
permit (principal in Group::"Everyone", action == Action::"tools/call", resource)
when { resource.tool_name == "region_echo" || resource.tool_name == "confirm_deploy" };
`

type regionArgs struct {
	Region string `json:"region"`
}

// eraTools adds the era tools to the fake AWS MCP Server; confirmations
// counts the calls of confirm_deploy that carried the user's answer.
func eraTools(confirmations *atomic.Int32) func(*mcp.Server) {
	return func(srv *mcp.Server) {
		srv.AddTool(&mcp.Tool{Name: "internal_admin", Description: "No policy permits it.", InputSchema: json.RawMessage(`{"type":"object"}`)},
			func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return &mcp.CallToolResult{}, nil
			})
		mcp.AddTool(srv, &mcp.Tool{
			Name:        toolRegionEcho,
			Description: "Echo a region.",
			InputSchema: json.RawMessage(`{"type":"object","properties":{"region":{"type":"string","x-mcp-header":"Region"}},"required":["region"]}`),
		}, func(_ context.Context, _ *mcp.CallToolRequest, a regionArgs) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "region " + a.Region}}}, nil, nil
		})
		srv.AddTool(&mcp.Tool{
			Name:        toolConfirm,
			Description: "Deploy after the user confirms.",
			InputSchema: json.RawMessage(`{"type":"object"}`),
		}, func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			r, ok := req.Params.InputResponses["confirm"].(*mcp.ElicitResult)
			if !ok {
				return &mcp.CallToolResult{InputRequests: mcp.InputRequestMap{
					"confirm": &mcp.ElicitParams{Message: "Deploy?", RequestedSchema: json.RawMessage(`{"type":"object","properties":{}}`)},
				}}, nil
			}
			confirmations.Add(1)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "deploy " + r.Action}}}, nil
		})
	}
}

func erasStack(t *testing.T, stateless bool, confirmations *atomic.Int32) *stack.Stack {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "eras.cedar"), []byte(erasPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	s, _ := startStack(t, stack.Options{
		AuditWriter:      &stack.Buffer{},
		FakeAWSStateless: stateless,
		FakeAWSConfigure: eraTools(confirmations),
		Mutate: func(c *config.Config) {
			c.Authz.PolicyFiles = append(c.Authz.PolicyFiles, filepath.Join(dir, "eras.cedar"))
		},
	})
	return s
}

// connectEra opens a session as u speaking version, with the handlers an
// interactive client has: it confirms elicitations and listens for list
// changes.
func connectEra(t *testing.T, s *stack.Stack, u stack.User, version string, listChanged chan<- struct{}) *mcp.ClientSession {
	t.Helper()
	tok, err := s.Token(u)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "eras-" + u.Name, Version: "1"}, &mcp.ClientOptions{
		ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{}}, nil
		},
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			select {
			case listChanged <- struct{}{}:
			default:
			}
		},
	})
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:             s.MCPURL(),
		HTTPClient:           stack.HTTPClient(tok),
		DisableStandaloneSSE: true,
		MaxRetries:           -1,
	}, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("%s: connect: %v", u.Name, err)
	}
	t.Cleanup(func() { cs.Close() })
	if got := cs.InitializeResult().ProtocolVersion; got != version {
		t.Fatalf("negotiated %s, want %s", got, version)
	}
	return cs
}

// upstreamMethods lists the JSON-RPC methods that reached the AWS MCP
// Server, with the Mcp-Method header each carried.
func upstreamMethods(s *stack.Stack) (methods []string, headers map[string][]string) {
	headers = map[string][]string{}
	for _, r := range s.AWS.Requests() {
		var m struct {
			Method string `json:"method"`
		}
		if json.Unmarshal(r.Body, &m) == nil && m.Method != "" {
			methods = append(methods, m.Method)
			headers[m.Method] = append(headers[m.Method], r.Header.Get("Mcp-Method"))
		}
	}
	return methods, headers
}

func TestBothProtocolEras(t *testing.T) {
	for _, era := range []struct {
		name      string
		version   string
		stateless bool
	}{
		{"2026-07-28", "2026-07-28", true},
		{"2025-11-25", "2025-11-25", false},
	} {
		t.Run(era.name, func(t *testing.T) {
			var confirmations atomic.Int32
			s := erasStack(t, era.stateless, &confirmations)
			listChanged := make(chan struct{}, 1)
			cs := connectEra(t, s, stack.Alice, era.version, listChanged)
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()

			tools, err := cs.ListTools(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tl := range tools.Tools {
				names = append(names, tl.Name)
			}
			if !slices.Contains(names, fakeaws.ToolCallAWS) || !slices.Contains(names, toolRegionEcho) || slices.Contains(names, "internal_admin") {
				t.Errorf("alice's tools = %v, want them filtered", names)
			}
			if era.stateless && tools.CacheScope != "private" {
				t.Errorf("filtered tools/list cacheScope = %q, want private", tools.CacheScope)
			}

			if res, err := callAWS(cs, "aws s3 ls"); err != nil || res.IsError {
				t.Errorf("allowed call: err=%v res=%+v", err, res)
			}
			res, err := callAWS(cs, "aws ec2 describe-instances")
			if !deniedByGateway(res, err) {
				t.Errorf("denied call: err=%v res=%+v", err, res)
			}

			res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: toolRegionEcho, Arguments: map[string]any{"region": "eu-central-1"}})
			if err != nil || res.IsError || resultText(res) != "region eu-central-1" {
				t.Fatalf("region_echo: err=%v res=%+v", err, res)
			}

			res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: toolConfirm, Arguments: map[string]any{}})
			if err != nil || res.IsError || resultText(res) != "deploy accept" {
				t.Fatalf("confirm_deploy round trip: err=%v res=%+v", err, res)
			}
			if confirmations.Load() != 1 {
				t.Errorf("the tool saw the user's answer %d times, want 1", confirmations.Load())
			}

			methods, hdrs := upstreamMethods(s)
			if era.stateless {
				for _, m := range []string{"server/discover", "tools/list", "tools/call", "subscriptions/listen"} {
					if !slices.Contains(methods, m) {
						t.Errorf("%s did not reach the upstream (saw %v)", m, methods)
					}
				}
				if slices.Contains(methods, "initialize") {
					t.Error("a 2026-07-28 client sent initialize")
				}
				for m, vs := range hdrs {
					for _, v := range vs {
						if v != m {
							t.Errorf("%s reached the upstream with Mcp-Method %q", m, v)
						}
					}
				}
				for _, r := range s.AWS.Requests() {
					if strings.Contains(string(r.Body), `"region_echo"`) && r.Header.Get("Mcp-Param-Region") != "eu-central-1" {
						t.Errorf("region_echo reached the upstream with Mcp-Param-Region %q", r.Header.Get("Mcp-Param-Region"))
					}
				}
			} else if !slices.Contains(methods, "initialize") {
				t.Errorf("a 2025-11-25 client did not initialize (saw %v)", methods)
			}
		})
	}
}
