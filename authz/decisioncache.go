package authz

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"sync"

	"github.com/cedar-policy/cedar-go/types"
	"github.com/cedar-policy/cedar-go/x/exp/ast"
)

// Bounds of a snapshot's decision cache: entries, and bytes of the
// arguments of the mapped calls its keys keep alive (a call evicted from
// the call cache stays in memory while a decision names it), so the two
// caches together hold at most twice the call cache's bytes.
const (
	decisionCacheEntries   = 4096
	decisionCacheCallBytes = callCacheKeyBytes
	// decisionKeyText bounds the action name and encoded context a key
	// holds: a longer one (a made-up method, a huge session ID) is
	// decided every time rather than kept.
	decisionKeyText = 1024
)

// A Cedar decision is a function of the policies, the entities, the
// principal, the action, the resource and the context record. Within one
// snapshot the policies and the entities file are fixed, the principal is
// a function of the token (principalCache relies on the same), and the
// resource, context.aws_cli and context.aws of a tools/call are a function
// of its call-cache entry. What is left is the rest of the context: only
// the attributes some policy reads can change a decision, so those are in
// the key and the others (the request ID, the time, the source address of
// a policy set that reads none of them) are not.
//
// decisionCache remembers the ItemDecision of each such key. It belongs to
// one snapshot, so a reload starts over; it is off (nil) when a policy
// uses context other than through its attributes (context == {...}, for
// example) or reads the request ID, which no two requests share.
type decisionCache struct {
	// reads are the context attributes the policies read, sorted.
	reads []types.String
	// readsBase is true when reads holds an attribute baseContext sets
	// (the others come from the call, which the key names, from the
	// message, which is never cached, or from the credential source's
	// Request.Attributes, which keyFor looks at).
	readsBase bool

	mu        sync.RWMutex
	m         map[decisionKey]ItemDecision
	callBytes int
}

// decisionKey names one decision: the token's principal, the action, the
// resource (a call-cache entry, or the UID of a resource that has no
// attributes of its own) and the encoded values of the context attributes
// the policies read.
type decisionKey struct {
	token    [sha256.Size]byte
	action   string
	call     *mappedCall
	resource types.EntityUID
	context  string
}

// newDecisionCache analyses the policies' use of context; it returns nil
// when their decisions cannot be keyed (see decisionCache).
func newDecisionCache(entries []*policyEntry) *decisionCache {
	reads := map[types.String]bool{}
	for _, e := range entries {
		if !contextReads((*ast.Policy)(e.policy.AST()), reads) {
			return nil
		}
	}
	if reads["request_id"] {
		return nil
	}
	c := &decisionCache{m: map[decisionKey]ItemDecision{}}
	for k := range reads {
		c.reads = append(c.reads, k)
		if slices.Contains(baseContextKeys, k) {
			c.readsBase = true
		}
	}
	slices.Sort(c.reads)
	return c
}

// contextReads adds to reads the context attributes p's conditions name
// (context.x, context has x) and reports false when a condition uses
// context in any other way, which could depend on every attribute.
func contextReads(p *ast.Policy, reads map[types.String]bool) bool {
	ok := true
	isContext := func(n ast.IsNode) bool {
		v, is := n.(ast.NodeTypeVariable)
		return is && v.Name == "context"
	}
	for _, c := range p.Conditions {
		ast.Inspect(ast.NewNode(c.Body), func(n ast.IsNode) bool {
			switch n := n.(type) {
			case ast.NodeTypeAccess:
				if isContext(n.Arg) {
					reads[n.Value] = true
					return false
				}
			case ast.NodeTypeHas:
				if isContext(n.Arg) {
					reads[n.Value] = true
					return false
				}
			case ast.NodeTypeVariable:
				if n.Name == "context" {
					ok = false
				}
			}
			return ok
		})
	}
	return ok
}

// key encodes the context part of a decision key: for each attribute the
// policies read, whether rec (the context the decision would be taken
// with, less what the call sets) has it and its Cedar literal.
func (c *decisionCache) key(buf []byte, rec types.RecordMap) []byte {
	for _, k := range c.reads {
		v, ok := rec[k]
		if !ok {
			buf = append(buf, 0)
			continue
		}
		// A Cedar literal names one value of one type (records with
		// their keys sorted), so equal literals are equal values.
		lit := v.MarshalCedar()
		buf = append(buf, 1)
		buf = binary.AppendUvarint(buf, uint64(len(lit)))
		buf = append(buf, lit...)
	}
	return buf
}

func (c *decisionCache) get(k *decisionKey) (ItemDecision, bool) {
	c.mu.RLock()
	d, ok := c.m[*k]
	c.mu.RUnlock()
	return d, ok
}

// put remembers d for k. When a bound is reached the cache starts over,
// which costs each active caller one evaluation.
func (c *decisionCache) put(k *decisionKey, d ItemDecision) {
	var callBytes int
	if k.call != nil {
		callBytes = k.call.keyLen
	}
	// The decision is shared by every later hit: its slices are never
	// appended to in place (combine copies them), and AWS, AWSRefused
	// are set per request on the copy a hit returns.
	d.AWS, d.AWSRefused = nil, nil
	d.Policies, d.Errors = slices.Clip(d.Policies), slices.Clip(d.Errors)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[*k]; ok {
		return
	}
	if len(c.m) >= decisionCacheEntries || c.callBytes+callBytes > decisionCacheCallBytes {
		clear(c.m)
		c.callBytes = 0
	}
	c.m[*k] = d
	c.callBytes += callBytes
}

// get is the cached decision of k, if cached says it has a key.
func (m *decisionMemo) get(k *decisionKey, cached bool) (ItemDecision, bool) {
	if !cached {
		return ItemDecision{}, false
	}
	return m.c.get(k)
}

// put caches d for k, if cached says it has a key.
func (m *decisionMemo) put(k *decisionKey, cached bool, d ItemDecision) {
	if cached {
		m.c.put(k, d)
	}
}

// len is the number of cached decisions.
func (c *decisionCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// decisionMemo is how evaluate consults the snapshot's decision cache for
// one request: nil when the request's decisions are not cached (no cache,
// a principal not named by its token alone, a test observer).
type decisionMemo struct {
	c     *decisionCache
	token [sha256.Size]byte
	// context is the encoded context part of every key of the request,
	// computed on first use.
	context string
	built   bool
}

func (a *Authorizer) memo(s *snapshot, token [sha256.Size]byte) *decisionMemo {
	if s.decisions == nil || a.observe != nil || token == ([sha256.Size]byte{}) {
		return nil
	}
	return &decisionMemo{c: s.decisions, token: token}
}

// keyFor is the key of one message's decision, or false when it is not
// cached. base returns the request's base context.
func (m *decisionMemo) keyFor(action string, call *mappedCall, resource types.Entity, base func() types.RecordMap, attrs map[string]string) (decisionKey, bool) {
	if m == nil {
		return decisionKey{}, false
	}
	k := decisionKey{token: m.token, action: action}
	switch {
	case call != nil:
		if call.keyLen == 0 {
			return decisionKey{}, false // not a call-cache entry
		}
		k.call = call
	case resource.Attributes.Len() == 0 && resource.Parents.Len() == 0:
		k.resource = resource.UID
	default:
		return decisionKey{}, false
	}
	if !m.built {
		m.built = true
		needBase := m.c.readsBase
		for _, r := range m.c.reads {
			if _, set := attrs[string(r)]; set {
				needBase = true // an attribute of the credential source
			}
		}
		if needBase {
			m.context = string(m.c.key(nil, base()))
		}
	}
	k.context = m.context
	if len(action)+len(k.context) > decisionKeyText {
		return decisionKey{}, false
	}
	return k, true
}
