package authz

import (
	"context"
	"crypto/sha256"
	"slices"
	"strings"
	"time"

	"github.com/cedar-policy/cedar-go/types"

	"github.com/mcpguard/mcpguard/mcp"
)

// annotationRequiresScope names the OAuth scope(s) a policy's decision
// depends on: @requires_scope("aws:write").
const annotationRequiresScope = "requires_scope"

// ReasonInsufficientScope is the error reason of a denial that the scopes
// in InsufficientScope would lift.
const ReasonInsufficientScope = "insufficient_scope"

// InsufficientScope is the cause of a step-up denial: the scopes to ask the
// user for (RFC 6750 §3.1 insufficient_scope).
type InsufficientScope struct {
	Scopes []string
}

func (e *InsufficientScope) Error() string {
	return "insufficient scope: " + strings.Join(e.Scopes, " ")
}

// scopeSet reads the token's scopes: the space-separated scope claim (RFC
// 8693 §4.2) or the scp claim (a list or a string, as some IdPs send), so
// policies can write principal.scopes.contains("aws:write"). The set is
// always present, so a policy reading it never errors.
func scopeSet(claims map[string]any) types.Set {
	var out []types.Value
	add := func(s string) {
		for f := range strings.FieldsSeq(s) {
			out = append(out, types.String(f))
		}
	}
	for _, name := range []string{"scope", "scp"} {
		switch v := claims[name].(type) {
		case string:
			add(v)
		case []any:
			for _, e := range v {
				if s, ok := e.(string); ok {
					add(s)
				}
			}
		case []string:
			for _, s := range v {
				add(s)
			}
		}
	}
	return types.NewSet(out...)
}

// missingScopes lists the scopes named by @requires_scope annotations that
// the principal does not hold, sorted.
func (s *snapshot) missingScopes(principal types.Entity) []string {
	held, _ := principal.Attributes.Get("scopes")
	set, _ := held.(types.Set)
	var out []string
	for _, e := range s.sorted {
		for _, sc := range e.requiresScope {
			if !set.Contains(types.String(sc)) && !slices.Contains(out, sc) {
				out = append(out, sc)
			}
		}
	}
	slices.Sort(out)
	return out
}

// withScopes is principal holding extra scopes as well.
func withScopes(principal types.Entity, extra []string) types.Entity {
	attrs := principal.Attributes.Map()
	var vals []types.Value
	if held, ok := attrs["scopes"].(types.Set); ok {
		for v := range held.All() {
			vals = append(vals, v)
		}
	}
	for _, sc := range extra {
		vals = append(vals, types.String(sc))
	}
	attrs["scopes"] = types.NewSet(vals...)
	return types.Entity{UID: principal.UID, Parents: principal.Parents, Attributes: types.NewRecord(attrs), Tags: principal.Tags}
}

// messageContext is the per-message context of the 2026-07-28 methods:
// input_responses and input_response_types of a Multi Round-Trip retry,
// subscriptions of subscriptions/listen, task_id of the tasks methods. It
// is nil when the message carries none of them.
func messageContext(m *mcp.Message) (types.RecordMap, error) {
	if m.Type != mcp.TypeRequest && m.Type != mcp.TypeNotification {
		return nil, nil
	}
	var rm types.RecordMap
	set := func(k string, v types.Value) {
		if rm == nil {
			rm = types.RecordMap{}
		}
		rm[types.String(k)] = v
	}
	switch m.Method {
	case mcp.MethodToolsCall, mcp.MethodPromptsGet, mcp.MethodResourcesRead:
		ir, err := m.InputResponses()
		if err != nil {
			return nil, err
		}
		if ir != nil {
			rec := make(types.RecordMap, len(ir))
			var kinds []types.Value
			for id, kind := range ir {
				rec[types.String(id)] = types.String(kind)
				kinds = append(kinds, types.String(kind))
			}
			set("input_responses", types.NewRecord(rec))
			set("input_response_types", types.NewSet(kinds...))
		}
	case mcp.MethodSubscriptionsListen:
		n, err := m.ParamObject("notifications")
		if err != nil {
			return nil, err
		}
		rec, err := toRecord(n, 1)
		if err != nil {
			return nil, err
		}
		set("subscriptions", rec)
	case mcp.MethodTasksGet, mcp.MethodTasksUpdate, mcp.MethodTasksCancel, mcp.MethodTasksResult:
		id, ok, err := m.ParamString("taskId")
		if err != nil {
			return nil, err
		}
		if ok {
			set("task_id", types.String(id))
		}
	}
	return rm, nil
}

// stepUp returns the smallest set of the missing scopes (dropping one at a
// time while the request stays allowed) that turns the denial into an
// allow, or nil when even all of them do not.
func (a *Authorizer) stepUp(ctx context.Context, s *snapshot, principal types.Entity, req *Request, now time.Time, missing []string) []string {
	allows := func(scopes []string) bool {
		d, err := a.evaluate(ctx, s, withScopes(principal, scopes), [sha256.Size]byte{}, req, now)
		return err == nil && d.Allow
	}
	if !allows(missing) {
		return nil
	}
	need := slices.Clone(missing)
	for i := 0; i < len(need); {
		without := slices.Delete(slices.Clone(need), i, i+1)
		if len(without) > 0 && allows(without) {
			need = without
			continue
		}
		i++
	}
	return need
}
