package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/authz"
	"github.com/mcpguard/mcpguard/awsapi"
	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/mcp"
	"github.com/mcpguard/mcpguard/sts"
)

// Tools of the AWS MCP Server that make no AWS call of the caller's: their
// requests are signed, under scope_down request, with a session that
// allows no action.
var noActionTools = map[string]bool{
	"aws___retrieve_skill":            true,
	"aws___search_documentation":      true,
	"aws___read_documentation":        true,
	"aws___list_regions":              true,
	"aws___get_regional_availability": true,
	"aws___recommend":                 true,
	"aws___suggest_aws_commands":      true,
	"aws___get_tasks":                 true,
}

// toolPresign presigns one S3 operation with the caller's credentials.
const toolPresign = "aws___get_presigned_url"

// presignActions are the IAM actions of the operations get_presigned_url
// presigns (its operation argument; default get_object).
var presignActions = map[string]string{"get_object": "s3:GetObject", "put_object": "s3:PutObject"}

// scopedSource narrows each request's session to the IAM actions its
// authorized AWS calls need (aws_sts_config.scope_down: request).
type scopedSource struct {
	broker  *sts.Broker
	iam     *awsapi.IAMTable
	unknown string            // refuse | mapping
	tools   map[string]string // tool → refuse | mapping | no_actions
}

func newScopedSource(b *sts.Broker, cfg *config.Config) (*scopedSource, error) {
	tab, err := awsapi.DefaultIAM()
	if err != nil {
		return nil, fmt.Errorf("load IAM action table: %w", err)
	}
	sd := cfg.STS.ScopeDownConfig
	s := &scopedSource{broker: b, iam: tab, unknown: sd.UnknownTools, tools: map[string]string{}}
	for _, t := range sd.Tools {
		s.tools[t.Name] = t.Scope
	}
	return s, nil
}

// Credentials serves requests that carry no decision (none reach here in
// the request path; kept for the interface).
func (s *scopedSource) Credentials(ctx context.Context, id *authn.Identity) (*sts.Grant, error) {
	return s.broker.ScopedCredentials(ctx, id, sts.Scope{Refusal: errors.New("no decision to scope the session by")})
}

// CredentialsFor signs with a session scoped to dec.
func (s *scopedSource) CredentialsFor(ctx context.Context, id *authn.Identity, dec *authz.Decision, body *mcp.Body) (*sts.Grant, error) {
	return s.broker.ScopedCredentials(ctx, id, s.scope(dec, body))
}

// scope computes the IAM actions a request's allowed messages need.
func (s *scopedSource) scope(dec *authz.Decision, body *mcp.Body) sts.Scope {
	var sc sts.Scope
	refuse := func(err error) sts.Scope { return sts.Scope{Refusal: err} }
	if dec == nil || !dec.Allow {
		return refuse(errors.New("request not allowed"))
	}
	if body == nil {
		return sc // bodyless requests (GET stream, DELETE) call no tool
	}
	if len(body.Messages) != len(dec.Items) {
		return refuse(errors.New("decision does not match the request's messages"))
	}
	for i, m := range body.Messages {
		if m.Type != mcp.TypeRequest || m.Method != "tools/call" {
			continue
		}
		tc, err := m.ToolCall()
		if err != nil {
			return refuse(fmt.Errorf("read tool call: %w", err))
		}
		switch tc.Name {
		case authz.ToolRunScript, authz.ToolCallAWS:
			a := dec.Items[i].AWS
			if a == nil || !a.Complete {
				return refuse(mcpguard.E(mcpguard.KindForbidden, "the AWS calls of "+tc.Name+" could not all be determined", nil))
			}
			for _, c := range a.Calls {
				acts, err := s.iam.Actions(c.Service, c.Operation)
				if err != nil {
					return refuse(mcpguard.E(mcpguard.KindForbidden,
						fmt.Sprintf("operation %s:%s has no known IAM action", c.Service, c.Operation), err))
				}
				sc.Actions = append(sc.Actions, acts...)
			}
			continue
		case toolPresign:
			op := "get_object"
			if v, ok := tc.Arguments["operation"]; ok {
				op, _ = v.(string)
			}
			act, ok := presignActions[op]
			if !ok {
				return refuse(mcpguard.E(mcpguard.KindForbidden, fmt.Sprintf("%s operation %q has no known IAM action", toolPresign, op), nil))
			}
			sc.Actions = append(sc.Actions, act)
			continue
		}
		setting, ok := s.tools[tc.Name]
		if !ok {
			if noActionTools[tc.Name] {
				continue
			}
			setting = s.unknown
		}
		switch setting {
		case config.ToolScopeNoActions:
		case config.ToolScopeMapping:
			sc.UseMapping = true
		default:
			return refuse(mcpguard.E(mcpguard.KindForbidden, fmt.Sprintf("the AWS actions of tool %q are unknown", tc.Name), nil))
		}
	}
	// Sorted and unique, so the broker's warm path need not copy them.
	slices.Sort(sc.Actions)
	sc.Actions = slices.Compact(sc.Actions)
	return sc
}

// usesScopeDown reports whether any role of cfg scopes per request.
func usesScopeDown(cfg *config.Config) bool {
	if cfg.STS.ScopeDown == config.ScopeDownRequest {
		return true
	}
	for _, m := range cfg.STS.RoleMappings {
		if m.ScopeDown == config.ScopeDownRequest {
			return true
		}
	}
	return false
}

// scopeConditions maps scope_down_config.conditions onto the broker's.
func scopeConditions(cfg *config.Config) []sts.Condition {
	cs := cfg.STS.ScopeDownConfig.Conditions
	if cs == nil {
		return nil
	}
	out := []sts.Condition{}
	for _, c := range *cs {
		out = append(out, sts.Condition{Operator: c.Operator, Key: c.Key, Values: c.Values})
	}
	return out
}

// CheckCredentials builds the credential broker of cfg without starting
// it, so that `mcpguard validate` refuses what `serve` would: role ARNs,
// and static session policies that cannot be composed with scope_down
// request.
func CheckCredentials(cfg *config.Config) error {
	if err := checkScopeDownCompat(cfg); err != nil {
		return err
	}
	b, err := sts.New(stsOptions(cfg, nil, slog.New(slog.DiscardHandler), nil, nil, nil))
	if err != nil {
		return err
	}
	b.Close()
	return nil
}

// checkScopeDownCompat refuses scope_down request with identity_center:
// permission set credentials take no session policy, and the router would
// bypass the scoped source, so requests would be signed unscoped.
func checkScopeDownCompat(cfg *config.Config) error {
	if usesScopeDown(cfg) && cfg.IdentityCenter != nil {
		return errors.New("aws_sts_config: scope_down request cannot be combined with identity_center: " +
			"permission set credentials cannot carry a per-request session policy")
	}
	return nil
}
