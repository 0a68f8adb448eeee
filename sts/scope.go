package sts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcpguard/mcpguard"
)

// ScopeMode says which session signs a role mapping's requests.
type ScopeMode string

// The scope-down modes of aws_sts_config.scope_down and of each role
// mapping.
const (
	// ScopeMapping signs with the mapping's own session: the role narrowed
	// by its static session_policy / session_policy_arns, if any. It is
	// the default.
	ScopeMapping ScopeMode = "mapping"
	// ScopeRequest signs each request with a session whose inline policy
	// allows exactly the IAM actions the request was authorized for, and
	// only through the upstream (the scope conditions).
	ScopeRequest ScopeMode = "request"
	// ScopeNone signs with the role's full session; a mapping with a
	// static session policy cannot use it (that would silently drop the
	// policy).
	ScopeNone ScopeMode = "none"
)

// ParseScopeMode accepts the configuration spelling; "" is "" (inherit).
func ParseScopeMode(s string) (ScopeMode, error) {
	switch m := ScopeMode(s); m {
	case "", ScopeMapping, ScopeRequest, ScopeNone:
		return m, nil
	}
	return "", fmt.Errorf("scope_down %q must be request, mapping or none", s)
}

// Condition is one IAM condition of the per-request session policy, e.g.
// Bool aws:ViaAWSMCPService "true": it makes the session usable only for
// calls made through the AWS MCP Server, not with the credentials alone.
type Condition struct {
	Operator string
	Key      string
	Values   []string
}

// DefaultScopeConditions are the AWS MCP Server's condition keys: every
// downstream call it makes on a caller's behalf carries them.
func DefaultScopeConditions() []Condition {
	return []Condition{
		{Operator: "Bool", Key: "aws:ViaAWSMCPService", Values: []string{"true"}},
		{Operator: "StringEquals", Key: "aws:CalledViaAWSMCP", Values: []string{"aws-mcp.amazonaws.com"}},
	}
}

// DefaultMaxActionSets bounds the distinct action sets one user may hold
// sessions for at once.
const DefaultMaxActionSets = 32

// Scope is what one request needs from AWS, as the gateway decided it.
type Scope struct {
	// Actions are the IAM actions the request's authorized AWS calls need
	// (not the operation names). Empty means the request performs no AWS
	// action and gets a session that allows none.
	Actions []string
	// UseMapping signs with the mapping's session even under
	// ScopeRequest: a tool whose actions cannot be known that the
	// configuration lets through unscoped.
	UseMapping bool
	// Refusal, when set, is why the request's actions cannot be known (an
	// operation without a known IAM action, a tool refused by
	// configuration); under ScopeRequest the request is refused with it.
	Refusal error
}

// normalizeActions sorts and deduplicates actions, without copying when
// they already are (the gateway passes them so).
func normalizeActions(actions []string) []string {
	sortedUnique := true
	for i := 1; i < len(actions); i++ {
		if actions[i-1] >= actions[i] {
			sortedUnique = false
			break
		}
	}
	if sortedUnique {
		return actions
	}
	out := slices.Clone(actions)
	slices.Sort(out)
	return slices.Compact(out)
}

// statement is one IAM policy statement. Fields are raw JSON so that a
// static statement is reproduced as written.
type statement struct {
	Sid         json.RawMessage            `json:"Sid,omitempty"`
	Effect      string                     `json:"Effect"`
	Action      json.RawMessage            `json:"Action,omitempty"`
	NotAction   json.RawMessage            `json:"NotAction,omitempty"`
	Resource    json.RawMessage            `json:"Resource,omitempty"`
	NotResource json.RawMessage            `json:"NotResource,omitempty"`
	Condition   map[string]json.RawMessage `json:"Condition,omitempty"`
}

type policyDoc struct {
	Version   string      `json:"Version"`
	Statement []statement `json:"Statement"`
}

// staticStatement is a mapping's static statement compiled for
// composition.
type staticStatement struct {
	raw        statement
	actions    []string // Action patterns, lowercase
	notActions []string // NotAction patterns, lowercase
	conds      map[string]map[string]json.RawMessage
}

// scoper builds the per-request session policies of one role.
type scoper struct {
	conds  map[string]map[string]json.RawMessage // operator → key → values
	static []staticStatement                     // nil: no static policy

	// memo remembers the session of each action set: users repeat a few
	// sets, so the warm path hashes the set instead of encoding a policy.
	mu   sync.RWMutex
	memo map[string]*scopedSession // length-prefixed actions → session
}

// maxScopeMemo bounds a role's memo; when full it starts over.
const maxScopeMemo = 4096

// iamActionRE is an exact IAM action: the table's every action has this
// form. Wildcards are never requested (that would broaden the session),
// and anything JSON would rewrite cannot reach a policy.
var iamActionRE = regexp.MustCompile(`^[a-z0-9-]+:[A-Za-z0-9]+$`)

// session returns the scoped session of actions (sorted, unique).
func (s *scoper) session(actions []string) (*scopedSession, error) {
	var stack [512]byte
	buf := stack[:0]
	for _, a := range actions {
		buf = appendField(buf, a)
	}
	s.mu.RLock()
	ss, ok := s.memo[string(buf)] // exact match: no collision can mix sets
	s.mu.RUnlock()
	if ok {
		return ss, nil
	}
	for _, a := range actions {
		if !iamActionRE.MatchString(a) {
			return nil, fmt.Errorf("%q is not an IAM action", a)
		}
	}
	policy, err := s.policy(actions)
	if err != nil {
		return nil, err
	}
	ss = &scopedSession{actions: slices.Clone(actions), policy: policy, sum: sha256.Sum256([]byte(policy))}
	ss.digest = hex.EncodeToString(ss.sum[:])
	s.mu.Lock()
	if s.memo == nil || len(s.memo) >= maxScopeMemo {
		s.memo = make(map[string]*scopedSession)
	}
	s.memo[string(buf)] = ss
	s.mu.Unlock()
	return ss, nil
}

// compileScoper checks that the mapping's static session policy can be
// composed with per-request policies and compiles it. STS unions session
// policies of one session (an Allow in any of them counts), so managed
// session policies would widen every request: they are refused. An inline
// policy is intersected statement by statement, which needs statements
// mcpguard can read completely.
func compileScoper(r *role, conds []Condition) (*scoper, error) {
	s := &scoper{conds: map[string]map[string]json.RawMessage{}}
	for _, c := range conds {
		if c.Operator == "" || c.Key == "" || len(c.Values) == 0 {
			return nil, fmt.Errorf("scope_down_conditions: operator, key and values are required")
		}
		v, _ := json.Marshal(c.Values)
		if len(c.Values) == 1 {
			v, _ = json.Marshal(c.Values[0])
		}
		if s.conds[c.Operator] == nil {
			s.conds[c.Operator] = map[string]json.RawMessage{}
		}
		if _, dup := s.conds[c.Operator][c.Key]; dup {
			return nil, fmt.Errorf("scope_down_conditions: %s %s is given twice", c.Operator, c.Key)
		}
		s.conds[c.Operator][c.Key] = v
	}
	if len(r.SessionPolicyARNs) > 0 {
		return nil, errors.New("scope_down request cannot be combined with session_policy_arns: " +
			"STS grants what any session policy allows, so the managed policies would widen every request's session; " +
			"put their statements into session_policy instead")
	}
	if r.SessionPolicy == "" {
		return s, nil
	}
	var doc struct {
		Version   string          `json:"Version"`
		Statement json.RawMessage `json:"Statement"`
		ID        json.RawMessage `json:"Id"`
	}
	dec := json.NewDecoder(strings.NewReader(r.SessionPolicy))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("session_policy cannot be composed with scope_down request: %w", err)
	}
	var stmts []json.RawMessage
	if bytes.HasPrefix(bytes.TrimSpace(doc.Statement), []byte("{")) {
		stmts = []json.RawMessage{doc.Statement}
	} else if err := json.Unmarshal(doc.Statement, &stmts); err != nil || len(stmts) == 0 {
		return nil, errors.New("session_policy cannot be composed with scope_down request: Statement must be an object or a non-empty array")
	}
	for i, raw := range stmts {
		var st statement
		d := json.NewDecoder(bytes.NewReader(raw))
		d.DisallowUnknownFields() // Principal, NotPrincipal: not for session policies
		if err := d.Decode(&st); err != nil {
			return nil, fmt.Errorf("session_policy Statement[%d] cannot be composed with scope_down request: %w", i, err)
		}
		ss := staticStatement{raw: st}
		var err error
		if ss.actions, err = patternList(st.Action); err == nil {
			ss.notActions, err = patternList(st.NotAction)
		}
		if err != nil {
			return nil, fmt.Errorf("session_policy Statement[%d]: %w", i, err)
		}
		if (len(ss.actions) == 0) == (len(ss.notActions) == 0) {
			return nil, fmt.Errorf("session_policy Statement[%d]: needs exactly one of Action and NotAction", i)
		}
		switch st.Effect {
		case "Allow", "Deny":
		default:
			return nil, fmt.Errorf("session_policy Statement[%d]: Effect must be Allow or Deny", i)
		}
		ss.conds = map[string]map[string]json.RawMessage{}
		for op, raw := range st.Condition {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(raw, &m); err != nil {
				return nil, fmt.Errorf("session_policy Statement[%d]: Condition %s must be an object", i, op)
			}
			ss.conds[op] = m
			if st.Effect == "Allow" {
				for k := range m {
					if _, clash := s.conds[op][k]; clash {
						return nil, fmt.Errorf("session_policy Statement[%d]: its condition %s %s is also a scope-down condition; "+
							"both cannot hold in one statement, so the policies cannot be intersected", i, op, k)
					}
				}
			}
		}
		s.static = append(s.static, ss)
	}
	return s, nil
}

// patternList reads an Action/NotAction value: a string or an array of
// strings, each "*" or "prefix:pattern".
func patternList(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var list []string
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		list = []string{one}
	} else if err := json.Unmarshal(raw, &list); err != nil {
		return nil, errors.New("the Action element must be a string or an array of strings")
	}
	for i, p := range list {
		if p != "*" && !strings.Contains(p, ":") {
			return nil, fmt.Errorf("action %q is not service:action", p)
		}
		list[i] = strings.ToLower(p)
	}
	return list, nil
}

// MatchAction reports whether an IAM action matches an IAM action pattern
// with * and ? wildcards, case-insensitively as IAM compares actions.
func MatchAction(pattern, action string) bool {
	return wildcard(strings.ToLower(pattern), strings.ToLower(action))
}

func wildcard(p, s string) bool {
	// Iterative glob with backtracking to the last star.
	pi, si, star, mark := 0, 0, -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

func matchesAny(patterns []string, action string) bool {
	for _, p := range patterns {
		if wildcard(p, strings.ToLower(action)) {
			return true
		}
	}
	return false
}

// denyAll is the session policy of a request that performs no AWS action.
var denyAll = statement{Effect: "Deny", Action: json.RawMessage(`"*"`), Resource: json.RawMessage(`"*"`)}

// policy returns the compact session policy allowing exactly actions
// (sorted, unique) under the scope conditions, intersected with the static
// policy: each static Allow keeps its Resource and conditions and allows
// only the requested actions it allows; static Deny statements are kept.
func (s *scoper) policy(actions []string) (string, error) {
	doc := policyDoc{Version: "2012-10-17"}
	cond := func(extra map[string]map[string]json.RawMessage) map[string]json.RawMessage {
		merged := map[string]map[string]json.RawMessage{}
		for _, src := range []map[string]map[string]json.RawMessage{s.conds, extra} {
			for op, kv := range src {
				if merged[op] == nil {
					merged[op] = map[string]json.RawMessage{}
				}
				for k, v := range kv {
					merged[op][k] = v
				}
			}
		}
		if len(merged) == 0 {
			return nil
		}
		out := make(map[string]json.RawMessage, len(merged))
		for op, kv := range merged {
			out[op], _ = json.Marshal(kv) // encoding/json sorts map keys
		}
		return out
	}
	allowed := func(acts []string, res json.RawMessage, notRes json.RawMessage, extra map[string]map[string]json.RawMessage) {
		if len(acts) == 0 {
			return
		}
		a, _ := json.Marshal(acts)
		st := statement{Effect: "Allow", Action: a, Resource: res, NotResource: notRes, Condition: cond(extra)}
		if len(res) == 0 && len(notRes) == 0 {
			st.Resource = json.RawMessage(`"*"`)
		}
		doc.Statement = append(doc.Statement, st)
	}
	if s.static == nil {
		allowed(actions, nil, nil, nil)
	} else {
		for _, ss := range s.static {
			if ss.raw.Effect == "Deny" {
				doc.Statement = append(doc.Statement, ss.raw)
				continue
			}
			var keep []string
			for _, a := range actions {
				if (len(ss.actions) > 0 && matchesAny(ss.actions, a)) || (len(ss.notActions) > 0 && !matchesAny(ss.notActions, a)) {
					keep = append(keep, a)
				}
			}
			allowed(keep, ss.raw.Resource, ss.raw.NotResource, ss.conds)
		}
	}
	hasAllow := slices.ContainsFunc(doc.Statement, func(st statement) bool { return st.Effect == "Allow" })
	if !hasAllow {
		doc.Statement = []statement{denyAll}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return "", fmt.Errorf("encode session policy: %w", err)
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// PolicyDigest is the audit form of a session policy: hex SHA-256 of its
// exact text, which CloudTrail's requestParameters.policy of the
// AssumeRoleWithWebIdentity event hashes to as well.
func PolicyDigest(policy string) string {
	sum := sha256.Sum256([]byte(policy))
	return hex.EncodeToString(sum[:])
}

// setLimiter bounds the distinct action sets each user holds sessions for.
// A set counts from its first request until the session minted for it
// would expire; past the bound a new set is refused with the time until
// the oldest set frees its place, never served with a broader session.
type setLimiter struct {
	mu    sync.Mutex
	max   int
	life  time.Duration
	users map[[sha256.Size]byte]map[[sha256.Size]byte]time.Time // user → set digest → until
}

func newSetLimiter(max int, life time.Duration) *setLimiter {
	return &setLimiter{max: max, life: life, users: map[[sha256.Size]byte]map[[sha256.Size]byte]time.Time{}}
}

// admit records set for user at now, or returns how long to wait.
func (l *setLimiter) admit(user, set [sha256.Size]byte, now time.Time) (wait time.Duration, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	sets := l.users[user]
	if until, known := sets[set]; known && now.Before(until) {
		return 0, true
	}
	var oldest time.Time
	for k, until := range sets {
		if !now.Before(until) {
			delete(sets, k)
		} else if oldest.IsZero() || until.Before(oldest) {
			oldest = until
		}
	}
	if len(sets) >= l.max {
		return max(oldest.Sub(now), time.Second), false
	}
	if sets == nil {
		if len(l.users) >= maxLimitedUsers {
			l.sweep(now)
		}
		sets = map[[sha256.Size]byte]time.Time{}
		l.users[user] = sets
	}
	sets[set] = now.Add(l.life)
	return 0, true
}

// maxLimitedUsers is when the limiter sweeps users whose sets all expired.
const maxLimitedUsers = 1 << 16

func (l *setLimiter) sweep(now time.Time) {
	for u, sets := range l.users {
		live := false
		for _, until := range sets {
			if now.Before(until) {
				live = true
				break
			}
		}
		if !live {
			delete(l.users, u)
		}
	}
}

// Scope-down refusals. Each is a client-safe *mcpguard.Error.
func scopeRefused(reason, msg string, cause error) *mcpguard.Error {
	return &mcpguard.Error{Kind: mcpguard.KindForbidden, Msg: msg, Err: cause, Reason: reason}
}
