package authz

import (
	"fmt"

	"github.com/cedar-policy/cedar-go/types"
	"github.com/cedar-policy/cedar-go/x/exp/ast"

	"github.com/mcpguard/mcpguard/mcp"
)

// extraActions are the actions a request can carry beyond the methods mcp
// knows: the task methods of the 2025-11-25 revision and mcpguard's own.
// A policy scoped to any other action never matches, which is almost always
// a typo or a policy written for another gateway's model.
var extraActions = map[string]bool{
	"tasks/get": true, "tasks/result": true, "tasks/list": true, "tasks/cancel": true,
	"notifications/tasks/status": true, "notifications/message": true,
	ActionStream: true, ActionTerminate: true, ActionResponse: true,
}

func knownAction(a string) bool { return mcp.KnownMethod(a) || extraActions[a] }

// essentialActions must be permitted to someone, or no client gets far.
var essentialActions = []struct{ action, consequence string }{
	{mcp.MethodInitialize, "every MCP session will be refused"},
	{mcp.MethodServerDiscover, "clients of MCP 2026-07-28 cannot discover the server"},
	{mcp.MethodNotificationInitialized, "clients cannot complete the MCP handshake"},
	{mcp.MethodToolsList, "clients cannot list tools"},
	{mcp.MethodToolsCall, "no tool can be called"},
}

// Check loads and compiles the policy set in opts exactly as New would and
// returns warnings about policies that load but are unlikely to do what
// their author meant. err is non-nil when the set would not load (parse
// errors with file:line:col, unknown files, a bad entities file).
// ServerHost, ReloadInterval, Logger and OnReload are ignored.
func Check(opts Options) (warnings []string, err error) {
	src, err := readSources(&opts)
	if err != nil {
		return nil, err
	}
	s, err := buildSnapshot(src)
	if err != nil {
		return nil, err
	}
	if !opts.AllowGuardrailRemoval {
		if err := guardrails(nil, s); err != nil {
			return nil, err
		}
	}
	return s.warnings(), nil
}

func (s *snapshot) warnings() []string {
	var w []string
	for _, f := range s.emptyFiles {
		w = append(w, fmt.Sprintf("policy file %s holds no policy", f))
	}
	if len(s.sorted) == 0 {
		return append(w, "no policies loaded: every request will be denied")
	}
	w = append(w, s.schemaWarnings...)
	for _, ea := range essentialActions {
		if !s.somePermitScopes(types.NewEntityUID(typeAction, types.String(ea.action))) {
			w = append(w, fmt.Sprintf("no policy permits %q: %s", ea.action, ea.consequence))
		}
	}
	knownTypes := map[types.EntityType]bool{
		typeUser: true, typeGroup: true, typeAction: true,
		typeTool: true, typePrompt: true, typeResource: true, typeServer: true,
	}
	for uid := range s.entities {
		knownTypes[uid.Type] = true
	}
	for _, e := range s.sorted {
		a := (*ast.Policy)(e.policy.AST())
		where := fmt.Sprintf("policy %q (%s:%d)", e.id, e.pos.Filename, e.pos.Line)
		for _, uid := range scopeUIDs(a.Action) {
			_, inEntities := s.entities[uid]
			if uid.Type != typeAction && !inEntities {
				w = append(w, fmt.Sprintf("%s: action %s is not of type Action and never matches", where, uid))
			} else if uid.Type == typeAction && !knownAction(string(uid.ID)) && !inEntities {
				w = append(w, fmt.Sprintf("%s: %s is not an MCP method; the policy never matches it", where, uid))
			}
		}
		for _, t := range scopeTypes(a.Principal) {
			if !knownTypes[t] {
				w = append(w, fmt.Sprintf("%s: principal type %s is unknown (principals are User, groups are Group)", where, t))
			}
		}
		for _, t := range scopeTypes(a.Resource) {
			if !knownTypes[t] {
				w = append(w, fmt.Sprintf("%s: resource type %s is unknown (resources are Tool, Prompt, Resource, Server)", where, t))
			}
		}
	}
	return w
}

// somePermitScopes reports whether any permit policy's scope can match the
// action; conditions are not considered.
func (s *snapshot) somePermitScopes(action types.EntityUID) bool {
	buckets := []*scopeBucket{&s.index.anyAction}
	if b := s.index.byAction[action]; b != nil {
		buckets = append(buckets, b)
	}
	for _, b := range buckets {
		lists := [][]*policyEntry{b.any}
		for _, l := range b.byUID {
			lists = append(lists, l)
		}
		for _, l := range b.byType {
			lists = append(lists, l)
		}
		for _, l := range lists {
			for _, e := range l {
				if !e.forbid {
					return true
				}
			}
		}
	}
	return false
}

// scopeUIDs lists the entity UIDs an action scope names.
func scopeUIDs(n ast.IsScopeNode) []types.EntityUID {
	switch s := n.(type) {
	case ast.ScopeTypeEq:
		return []types.EntityUID{s.Entity}
	case ast.ScopeTypeIn:
		return []types.EntityUID{s.Entity}
	case ast.ScopeTypeInSet:
		return s.Entities
	}
	return nil
}

// scopeTypes lists the entity types a principal or resource scope names.
func scopeTypes(n ast.IsScopeNode) []types.EntityType {
	switch s := n.(type) {
	case ast.ScopeTypeEq:
		return []types.EntityType{s.Entity.Type}
	case ast.ScopeTypeIn:
		return []types.EntityType{s.Entity.Type}
	case ast.ScopeTypeIs:
		return []types.EntityType{s.Type}
	case ast.ScopeTypeIsIn:
		return []types.EntityType{s.Type, s.Entity.Type}
	}
	return nil
}

// Warnings returns Check's warnings for the policy set in force, so serve
// can log them at start and after a reload.
func (a *Authorizer) Warnings() []string { return a.snap.Load().warnings() }
