package authz

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"
	"github.com/cedar-policy/cedar-go/x/exp/ast"
	xeval "github.com/cedar-policy/cedar-go/x/exp/eval"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/mcp"
)

// VisibilityRequest is what the pipeline knows about the list request
// whose response is being filtered.
type VisibilityRequest struct {
	// SourceIP and SessionID are those of the list request. A later call
	// from the same client in the same session carries the same values, so
	// policies on context.source_ip and context.mcp_session_id are decided
	// with them.
	SourceIP  string
	SessionID string
	// RequestID tells whether calls will carry context.request_id; its value
	// is not used, as every call has its own.
	RequestID string
	// ProtocolVersion is the list request's MCP revision: calls of the same
	// client carry the same context.protocol_version.
	ProtocolVersion string
}

// VisibleFunc reports whether a listed item stays in the list. It has the
// shape of the keep callback of mcp.FilterListResponse.
type VisibleFunc func(item mcp.ListItem) bool

// Visible returns the function that decides, item by item, whether this
// principal could use a listed item: whether some request that uses it
// could be permitted. The request that would use an item is
//
//   - tools/call on Tool::"<name>" (tool_name known, arguments unknown),
//     with context.aws_cli and context.aws either absent or unknown, or
//     context.aws alone unknown;
//   - prompts/get on Prompt::"<name>" (prompt_name known, arguments
//     unknown);
//   - resources/read on Resource::"<uri>" (uri known);
//   - for a resource template, resources/read on an unknown resource.
//
// In every case context.time and context.request_id are unknown and
// source_ip and mcp_session_id are the list request's.
//
// Each candidate policy is partially evaluated (cedar-go's
// x/exp/eval.PartialPolicy) with the known values bound and the unknown
// ones left as variables; what remains of its scope and conditions is then
// classified by the outcomes it can still have: true, false or an error.
// An item is visible when, in one of its requests, some permit can still be
// true and no forbid is certain to match or error (every scope decided, and
// every outcome of its conditions true or an error). So a forbid whose
// condition reads unknown data never hides an item, a permit whose
// condition reads unknown data keeps it, and a forbid that errors on known
// data hides it, as it would deny every call.
//
// The analysis errs towards showing: an item shown may still be denied
// when called (Authorize decides every call), but an item hidden is one no
// call could use. A VisibleFunc reads the policy set in force when Visible
// was called; once ctx ends it hides everything.
func (a *Authorizer) Visible(ctx context.Context, id *authn.Identity, req VisibilityRequest) (VisibleFunc, error) {
	if err := ctx.Err(); err != nil {
		return nil, mcpguard.E(mcpguard.KindInternal, "authorization cancelled", err)
	}
	if id == nil {
		return nil, mcpguard.E(mcpguard.KindInternal, "internal error", errors.New("visibility: no identity"))
	}
	if id.Subject == "" {
		return nil, mcpguard.E(mcpguard.KindUnauthenticated, "token has no subject", nil)
	}
	v, err := a.newVisibility(ctx, id, req)
	if err != nil {
		return nil, err
	}
	return func(item mcp.ListItem) bool {
		return v.check(item).visible
	}, nil
}

// unknown is a value partial evaluation leaves open.
func unknown(name string) types.Value { return xeval.Variable(types.String(name)) }

// visibility holds what every item of one list shares.
type visibility struct {
	ctx       context.Context
	s         *snapshot
	principal types.Entity
	// contexts without and with context.aws_cli.
	plain, withCLI, withAWS types.Record
	arguments               types.Value // the unknown arguments record
	resource                types.Value // the unknown resource of a template
}

func (a *Authorizer) newVisibility(ctx context.Context, id *authn.Identity, req VisibilityRequest) (*visibility, error) {
	s := a.snap.Load()
	groups, err := a.groups(id)
	if err != nil {
		return nil, err
	}
	rm := types.RecordMap{"time": unknown("time")}
	if req.RequestID != "" {
		rm["request_id"] = unknown("request_id")
	}
	if req.SessionID != "" {
		rm["mcp_session_id"] = types.String(req.SessionID)
	}
	if req.ProtocolVersion != "" {
		rm["protocol_version"] = types.String(req.ProtocolVersion)
	}
	if ip, ok := sourceIP(req.SourceIP); ok {
		rm["source_ip"] = ip
	}
	cli := maps.Clone(rm)
	cli["aws_cli"] = unknown("aws_cli")
	cli["aws"] = unknown("aws")
	aws := maps.Clone(rm)
	aws["aws"] = unknown("aws")
	return &visibility{
		ctx:       ctx,
		s:         s,
		principal: mergeBase(s.entities, principalEntity(id, groups)),
		plain:     types.NewRecord(rm),
		withCLI:   types.NewRecord(cli),
		withAWS:   types.NewRecord(aws),
		arguments: unknown("arguments"),
		resource:  unknown("resource"),
	}, nil
}

// itemVisibility is the decision for one item and the policies behind it.
type itemVisibility struct {
	visible bool
	// permits that can still allow the request; forbids certain to deny
	// it. They explain a decision in tests and logs.
	permits, forbids []string
}

// check decides one item.
func (v *visibility) check(item mcp.ListItem) itemVisibility {
	if v.ctx.Err() != nil {
		return itemVisibility{}
	}
	var (
		action   string
		resource types.Value
		entity   types.Entity
		contexts = []types.Record{v.plain}
	)
	switch item.Kind {
	case mcp.ItemTool:
		action = mcp.MethodToolsCall
		entity = types.Entity{
			UID: types.NewEntityUID(typeTool, types.String(item.Name)),
			Attributes: types.NewRecord(types.RecordMap{
				"tool_name": types.String(item.Name),
				"arguments": v.arguments,
			}),
		}
		// A call carries context.aws_cli (and context.aws) exactly when
		// it has a cli_command argument, and context.aws alone when it
		// runs a script: all three are possible.
		contexts = append(contexts, v.withCLI, v.withAWS)
	case mcp.ItemPrompt:
		action = mcp.MethodPromptsGet
		entity = types.Entity{
			UID: types.NewEntityUID(typePrompt, types.String(item.Name)),
			Attributes: types.NewRecord(types.RecordMap{
				"prompt_name": types.String(item.Name),
				"arguments":   v.arguments,
			}),
		}
	case mcp.ItemResource:
		action = mcp.MethodResourcesRead
		ent, err := resourceEntity(item.URI)
		if err != nil {
			// Reading it would be refused: nothing to show.
			return itemVisibility{}
		}
		entity = ent
	case mcp.ItemResourceTemplate:
		action = mcp.MethodResourcesRead
		resource = v.resource
	default:
		return itemVisibility{}
	}
	actionUID := types.NewEntityUID(typeAction, types.String(action))
	ents := &requestEntities{base: v.s.entities, principal: v.principal}
	var cands candidates
	if resource == nil {
		ents.resource = mergeBase(v.s.entities, entity)
		resource = ents.resource.UID
		cands = v.s.index.candidates(actionUID, ents.resource.UID)
	} else {
		// The resource is unknown, so no resource scope can be ruled out.
		cands = candidates{v.s.sorted}
	}
	var last itemVisibility
	for i, c := range contexts {
		if i > 0 && !v.mayDiffer(&cands, last) {
			break
		}
		env := xeval.Env{
			Entities:  ents,
			Principal: v.principal.UID,
			Action:    actionUID,
			Resource:  resource,
			Context:   c,
		}
		last = decideVisibility(env, &cands)
		if last.visible {
			return last
		}
	}
	return last
}

// mayDiffer reports whether another context could turn the hidden outcome
// prev into a visible one. Only policies that read context can answer
// differently: a permit, when none could allow before, or one of the
// forbids that hid the item.
func (v *visibility) mayDiffer(cands *candidates, prev itemVisibility) bool {
	if len(prev.permits) > 0 {
		for _, id := range prev.forbids {
			if e := v.s.byID[types.PolicyID(id)]; e == nil || e.readsContext {
				return true
			}
		}
		return false
	}
	for _, list := range cands {
		for _, e := range list {
			if !e.forbid && e.readsContext {
				return true
			}
		}
	}
	return false
}

// readsContext reports whether any condition of p mentions context.
func readsContext(p *cedar.Policy) bool {
	found := false
	for _, c := range (*ast.Policy)(p.AST()).Conditions {
		ast.Inspect(ast.NewNode(c.Body), func(n ast.IsNode) bool {
			if v, ok := n.(ast.NodeTypeVariable); ok && v.Name == "context" {
				found = true
			}
			return !found
		})
	}
	return found
}

// decideVisibility applies the rule of Visible to one request.
func decideVisibility(env xeval.Env, cands *candidates) itemVisibility {
	var out itemVisibility
	for _, list := range cands {
		for _, e := range list {
			if e.forbid {
				continue
			}
			if r := residualOf(env, e); r.matches && r.outcomes&canTrue != 0 {
				out.permits = append(out.permits, string(e.id))
			}
		}
	}
	if len(out.permits) == 0 {
		return out
	}
	for _, list := range cands {
		for _, e := range list {
			if !e.forbid {
				continue
			}
			if r := residualOf(env, e); r.matches && r.scopesDecided && r.outcomes&canFalse == 0 {
				out.forbids = append(out.forbids, string(e.id))
			}
		}
	}
	out.visible = len(out.forbids) == 0
	return out
}

// outcomes is the set of results an expression can still have once the
// unknowns take their values.
type outcomes uint8

const (
	canTrue outcomes = 1 << iota
	canFalse
	canError
	canAny = canTrue | canFalse | canError
)

// residual is what partial evaluation left of one policy.
type residual struct {
	// matches is false when the policy is certain not to apply.
	matches bool
	// scopesDecided is true when principal, action and resource scopes are
	// all known to match.
	scopesDecided bool
	// outcomes of the conjunction of the conditions.
	outcomes outcomes
}

// residualOf partially evaluates one policy. A panic inside the
// experimental evaluator is turned into "matches, with an error": a permit
// then cannot allow and a forbid hides the item, so a fault fails closed.
func residualOf(env xeval.Env, e *policyEntry) (r residual) {
	defer func() {
		if p := recover(); p != nil {
			r = residual{matches: true, scopesDecided: true, outcomes: canError}
		}
	}()
	p, keep := xeval.PartialPolicy(env, (*ast.Policy)(e.policy.AST()))
	if !keep {
		return residual{}
	}
	r = residual{matches: true, outcomes: canTrue}
	_, pAll := p.Principal.(ast.ScopeTypeAll)
	_, aAll := p.Action.(ast.ScopeTypeAll)
	_, rAll := p.Resource.(ast.ScopeTypeAll)
	r.scopesDecided = pAll && aAll && rAll
	for _, c := range p.Conditions {
		body := outcomesOf(c.Body)
		if c.Condition == ast.ConditionUnless {
			body = negate(body)
		}
		r.outcomes = and(r.outcomes, body)
	}
	return r
}

// outcomesOf classifies a residual expression. Values and errors that
// partial evaluation already computed are exact; &&, ||, ! and if-then-else
// combine their operands' outcomes with Cedar's left-to-right,
// short-circuit semantics (a non-boolean operand is an error); any other
// expression still depends on an unknown and may have any outcome. Treating
// operands as independent can only add outcomes, never remove one.
func outcomesOf(n ast.IsNode) outcomes {
	switch v := n.(type) {
	case ast.NodeValue:
		b, ok := v.Value.(types.Boolean)
		switch {
		case !ok:
			return canError
		case bool(b):
			return canTrue
		}
		return canFalse
	case ast.NodeTypeExtensionCall:
		if _, isErr := xeval.ToPartialError(v); isErr {
			return canError
		}
		return canAny
	case ast.NodeTypeAnd:
		return and(outcomesOf(v.Left), outcomesOf(v.Right))
	case ast.NodeTypeOr:
		l := outcomesOf(v.Left)
		out := l & (canTrue | canError)
		if l&canFalse != 0 {
			out |= outcomesOf(v.Right)
		}
		return out
	case ast.NodeTypeNot:
		return negate(outcomesOf(v.Arg))
	case ast.NodeTypeIfThenElse:
		c := outcomesOf(v.If)
		out := c & canError
		if c&canTrue != 0 {
			out |= outcomesOf(v.Then)
		}
		if c&canFalse != 0 {
			out |= outcomesOf(v.Else)
		}
		return out
	}
	return canAny
}

// and combines l && r: r is evaluated only when l is true.
func and(l, r outcomes) outcomes {
	out := l & (canFalse | canError)
	if l&canTrue != 0 {
		out |= r
	}
	return out
}

func negate(o outcomes) outcomes {
	out := o & canError
	if o&canTrue != 0 {
		out |= canFalse
	}
	if o&canFalse != 0 {
		out |= canTrue
	}
	return out
}

// String renders outcomes for test failures.
func (o outcomes) String() string {
	return fmt.Sprintf("{true:%v false:%v error:%v}", o&canTrue != 0, o&canFalse != 0, o&canError != 0)
}
