package authz

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/cedar-policy/cedar-go"
	publicast "github.com/cedar-policy/cedar-go/ast"
	"github.com/cedar-policy/cedar-go/types"
	"github.com/cedar-policy/cedar-go/x/exp/ast"
	xeval "github.com/cedar-policy/cedar-go/x/exp/eval"

	"github.com/mcpguard/mcpguard/authn"
)

// maxClosest bounds the permits an explanation lists per message.
const maxClosest = 3

// PermitExplanation says why one permit did not apply to a message.
type PermitExplanation struct {
	Policy string `json:"policy"`
	// Unmet lists, in evaluation order, the scopes that did not match and
	// the first condition (conjunct of a when, or an unless) that was
	// false or failed to evaluate.
	Unmet []string `json:"unmet"`
}

// ItemExplanation explains the decision of one message.
type ItemExplanation struct {
	Action   string `json:"action"`
	Resource string `json:"resource"`
	Allow    bool   `json:"allow"`
	// Closest are the permits that came closest to allowing a denied
	// message, fewest unmet parts first; empty when it was allowed.
	Closest []PermitExplanation `json:"closest,omitempty"`
}

// Explain decides req like Authorize (without the shadow set) and, for each
// denied message, lists the permits that came closest and what each lacked,
// so an operator can see why a request was refused. It is for the CLI, not
// the request path: it evaluates every permit piece by piece.
func (a *Authorizer) Explain(ctx context.Context, id *authn.Identity, req Request) (Decision, []ItemExplanation, error) {
	s := a.snap.Load()
	type seen struct {
		req                 cedar.Request
		principal, resource types.Entity
	}
	var reqs []seen
	// A private authorizer with the same options observes what the
	// decision evaluates, without touching the shared one.
	b := &Authorizer{opts: a.opts, log: a.log, server: a.server, aws: a.aws}
	b.observe = func(r cedar.Request, p, res types.Entity) { reqs = append(reqs, seen{r, p, res}) }
	d, err := b.authorize(ctx, s, id, req)
	if err != nil {
		return d, nil, err
	}
	out := make([]ItemExplanation, len(d.Items))
	for i, it := range d.Items {
		out[i] = ItemExplanation{Action: it.Action, Resource: it.Resource, Allow: it.Allow}
		if it.Allow || i >= len(reqs) {
			continue
		}
		r := reqs[i]
		env := xeval.Env{
			Entities:  &requestEntities{base: s.entities, principal: r.principal, resource: r.resource},
			Principal: r.req.Principal, Action: r.req.Action, Resource: r.req.Resource, Context: r.req.Context,
		}
		var all []PermitExplanation
		for _, e := range s.sorted {
			if e.forbid {
				continue
			}
			if unmet := explainPermit(env, (*ast.Policy)(e.policy.AST())); len(unmet) > 0 {
				all = append(all, PermitExplanation{Policy: string(e.id), Unmet: unmet})
			}
		}
		// Fewest unmet parts first. A scope counts more than a condition
		// (it names another audience or resource), and a permit for
		// another action is farther than any permit for this one.
		rank := func(p PermitExplanation) int {
			n := 0
			for _, u := range p.Unmet {
				switch {
				case strings.HasPrefix(u, "action "):
					n += 100
				case strings.HasPrefix(u, "principal "), strings.HasPrefix(u, "resource "):
					n += 2
				default:
					n++
				}
			}
			return n
		}
		slices.SortStableFunc(all, func(x, y PermitExplanation) int { return rank(x) - rank(y) })
		out[i].Closest = all[:min(len(all), maxClosest)]
	}
	return d, out, nil
}

// explainPermit lists what keeps p from applying in env: scopes that do
// not match, then the first false or failing condition. It is empty when p
// applies.
func explainPermit(env xeval.Env, p *ast.Policy) (unmet []string) {
	defer func() {
		if r := recover(); r != nil {
			unmet = append(unmet, fmt.Sprintf("evaluation failed: %v", r))
		}
	}()
	all := ast.ScopeTypeAll{}
	scopes := []struct {
		name string
		pol  ast.Policy
	}{
		{"principal", ast.Policy{Effect: ast.EffectPermit, Principal: p.Principal, Action: all, Resource: all}},
		{"action", ast.Policy{Effect: ast.EffectPermit, Principal: all, Action: p.Action, Resource: all}},
		{"resource", ast.Policy{Effect: ast.EffectPermit, Principal: all, Action: all, Resource: p.Resource}},
	}
	for _, sc := range scopes {
		if _, keep := xeval.PartialPolicy(env, &sc.pol); !keep {
			unmet = append(unmet, fmt.Sprintf("%s does not match the scope `%s`", sc.name, scopeText(&sc.pol, sc.name)))
		}
	}
	for _, c := range p.Conditions {
		parts := []ast.IsNode{c.Body}
		if c.Condition == ast.ConditionWhen {
			parts = conjuncts(c.Body)
		}
		for _, part := range parts {
			v, err := xeval.Eval(part, env)
			text := conditionText(part)
			if c.Condition == ast.ConditionUnless {
				text = "unless { " + text + " }"
			}
			if err != nil {
				return append(unmet, fmt.Sprintf("`%s` failed: %v", text, err))
			}
			b, ok := v.(types.Boolean)
			switch {
			case !ok:
				return append(unmet, fmt.Sprintf("`%s` is not a boolean", text))
			case c.Condition == ast.ConditionWhen && !bool(b):
				return append(unmet, fmt.Sprintf("`%s` is false", text))
			case c.Condition == ast.ConditionUnless && bool(b):
				return append(unmet, fmt.Sprintf("`%s` is true", text))
			}
		}
	}
	return unmet
}

// conjuncts splits a && b && c into its operands, left to right.
func conjuncts(n ast.IsNode) []ast.IsNode {
	if and, ok := n.(ast.NodeTypeAnd); ok {
		return append(conjuncts(and.Left), conjuncts(and.Right)...)
	}
	return []ast.IsNode{n}
}

// scopeText renders one scope of p, which holds only that scope.
func scopeText(p *ast.Policy, name string) string {
	text := string(cedar.NewPolicyFromAST((*publicast.Policy)(p)).MarshalCedar())
	for _, line := range strings.Split(text, "\n") {
		if l := strings.TrimSpace(line); strings.HasPrefix(l, name) {
			return strings.TrimSuffix(l, ",")
		}
	}
	return name
}

// conditionText renders a condition expression in Cedar syntax.
func conditionText(n ast.IsNode) string {
	p := ast.Policy{Effect: ast.EffectPermit, Principal: ast.ScopeTypeAll{}, Action: ast.ScopeTypeAll{}, Resource: ast.ScopeTypeAll{},
		Conditions: []ast.ConditionType{{Condition: ast.ConditionWhen, Body: n}}}
	text := string(cedar.NewPolicyFromAST((*publicast.Policy)(&p)).MarshalCedar())
	if i := strings.Index(text, "when { "); i >= 0 {
		text = text[i+len("when { "):]
	}
	return strings.TrimSuffix(strings.TrimSuffix(strings.TrimSpace(text), ";"), " }")
}
