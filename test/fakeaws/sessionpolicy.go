package fakeaws

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/mcpguard/mcpguard/awsapi"
)

// viaMCPContext is the request context AWS adds to every downstream call
// the AWS MCP Server makes on a caller's behalf: the condition keys a
// session policy can require.
var viaMCPContext = map[string][]string{
	"aws:viaawsmcpservice": {"true"},
	"aws:calledviaawsmcp":  {"aws-mcp.amazonaws.com"},
}

// sessionPolicy is a parsed inline session policy, evaluated as IAM does
// for the part a session policy plays: an explicit Deny wins, otherwise
// some Allow must match, otherwise the call is implicitly denied.
type sessionPolicy struct {
	stmts []policyStatement
}

type policyStatement struct {
	allow      bool
	actions    []string // lowercase patterns
	notActions []string
	anyRes     bool // Resource "*" (the fake has no resource ARNs)
	conds      map[string]map[string][]string
}

// parseSessionPolicy reads the policy the credentials were issued with;
// "" means none (the session is the role's).
func parseSessionPolicy(text string) (*sessionPolicy, error) {
	if text == "" {
		return nil, nil
	}
	var doc struct {
		Statement json.RawMessage `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		return nil, fmt.Errorf("session policy: %w", err)
	}
	var raws []map[string]json.RawMessage
	if strings.HasPrefix(strings.TrimSpace(string(doc.Statement)), "{") {
		var one map[string]json.RawMessage
		if err := json.Unmarshal(doc.Statement, &one); err != nil {
			return nil, err
		}
		raws = append(raws, one)
	} else if err := json.Unmarshal(doc.Statement, &raws); err != nil {
		return nil, err
	}
	p := &sessionPolicy{}
	for _, r := range raws {
		var st policyStatement
		var effect string
		_ = json.Unmarshal(r["Effect"], &effect)
		st.allow = effect == "Allow"
		st.actions = stringOrList(r["Action"])
		st.notActions = stringOrList(r["NotAction"])
		for _, res := range stringOrList(r["Resource"]) {
			if res == "*" {
				st.anyRes = true
			}
		}
		if c, ok := r["Condition"]; ok {
			var m map[string]map[string]json.RawMessage
			if err := json.Unmarshal(c, &m); err != nil {
				return nil, err
			}
			st.conds = map[string]map[string][]string{}
			for op, kv := range m {
				st.conds[op] = map[string][]string{}
				for k, v := range kv {
					st.conds[op][strings.ToLower(k)] = stringOrList(v)
				}
			}
		}
		p.stmts = append(p.stmts, st)
	}
	return p, nil
}

func stringOrList(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var list []string
	_ = json.Unmarshal(raw, &list)
	return list
}

// matches reports whether st applies to action. Conditions the fake
// cannot evaluate make an Allow not apply and a Deny apply (fail closed).
func (st policyStatement) matches(action string) bool {
	a := strings.ToLower(action)
	hit := false
	if len(st.actions) > 0 {
		hit = anyMatch(st.actions, a)
	} else if len(st.notActions) > 0 {
		hit = !anyMatch(st.notActions, a)
	}
	if !hit {
		return false
	}
	if !st.anyRes && st.allow {
		return false // a resource-specific Allow: the fake cannot tell the resource
	}
	for op, kv := range st.conds {
		for k, want := range kv {
			got, known := viaMCPContext[k]
			var ok bool
			switch op {
			case "Bool", "StringEquals", "StringEqualsIgnoreCase":
				ok = known && anyEqual(want, got, op == "StringEqualsIgnoreCase")
			case "StringLike":
				ok = known && anyLike(want, got)
			default:
				return !st.allow
			}
			if !ok {
				return false
			}
		}
	}
	return true
}

func anyMatch(patterns []string, action string) bool {
	for _, p := range patterns {
		if glob(strings.ToLower(p), action) {
			return true
		}
	}
	return false
}

func anyEqual(want, got []string, fold bool) bool {
	for _, w := range want {
		for _, g := range got {
			if w == g || (fold && strings.EqualFold(w, g)) {
				return true
			}
		}
	}
	return false
}

func anyLike(want, got []string) bool {
	for _, w := range want {
		for _, g := range got {
			if glob(w, g) {
				return true
			}
		}
	}
	return false
}

// glob matches * (any run) and ? (one character).
func glob(p, s string) bool {
	if p == "" {
		return s == ""
	}
	switch p[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if glob(p[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && glob(p[1:], s[1:])
	}
	return s != "" && s[0] == p[0] && glob(p[1:], s[1:])
}

// decision is the session policy's verdict on one action.
type decision int

const (
	decisionAllow decision = iota
	decisionImplicitDeny
	decisionExplicitDeny
)

func (p *sessionPolicy) decide(action string) decision {
	allowed := false
	for _, st := range p.stmts {
		if !st.matches(action) {
			continue
		}
		if !st.allow {
			return decisionExplicitDeny
		}
		allowed = true
	}
	if allowed {
		return decisionAllow
	}
	return decisionImplicitDeny
}

// sessionPolicyDenial checks the IAM actions operation needs against the
// session policy and returns AWS's AccessDenied text for the first one
// refused, or "" when all are allowed.
func sessionPolicyDenial(p *sessionPolicy, principal, service, operation string) string {
	if p == nil {
		return ""
	}
	tab, err := awsapi.DefaultIAM()
	if err != nil {
		return "User: " + principal + " is not authorized to perform: " + service + ":" + operation
	}
	acts, err := tab.Actions(service, operation)
	if err != nil {
		return "User: " + principal + " is not authorized to perform: " + service + ":" + operation
	}
	for _, a := range acts {
		switch p.decide(a) {
		case decisionExplicitDeny:
			return fmt.Sprintf("User: %s is not authorized to perform: %s with an explicit deny in a session policy", principal, a)
		case decisionImplicitDeny:
			return fmt.Sprintf("User: %s is not authorized to perform: %s because no session policy allows the %s action", principal, a, a)
		}
	}
	return ""
}
