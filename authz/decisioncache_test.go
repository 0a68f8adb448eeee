package authz

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"
	"github.com/cedar-policy/cedar-go/x/exp/ast"

	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/mcp"
)

func TestContextReads(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		reads  []string
		ok     bool
	}{
		{"no context", `permit(principal, action, resource) when { resource.tool_name == "x" };`, nil, true},
		{"attribute", `permit(principal, action, resource) when { context.source_ip.isInRange(ip("10.0.0.0/8")) };`, []string{"source_ip"}, true},
		{"has and nested", `permit(principal, action, resource) when { context has aws && context.aws.read_only && context has aws_cli.service };`, []string{"aws", "aws_cli"}, true},
		{"unless", `forbid(principal, action, resource) unless { context.time < 5 || context.protocol_version == "2026-07-28" };`, []string{"protocol_version", "time"}, true},
		{"in a set and a record", `permit(principal, action, resource) when { [context.mcp_session_id].contains("s") && {a: context.aws_account}.a == "1" };`, []string{"aws_account", "mcp_session_id"}, true},
		{"whole context compared", `permit(principal, action, resource) when { context == {} };`, nil, false},
		{"whole context in a set", `permit(principal, action, resource) when { [context].contains({time: 1}) };`, nil, false},
		{"whole context in a record", `permit(principal, action, resource) when { {c: context}.c.time == 1 };`, nil, false},
		{"an entity attribute named context", `permit(principal, action, resource) when { principal has context && principal.context == "x" };`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p cedar.Policy
			if err := p.UnmarshalCedar([]byte(tt.policy)); err != nil {
				t.Fatal(err)
			}
			reads := map[types.String]bool{}
			ok := contextReads((*ast.Policy)(p.AST()), reads)
			var got []string
			for k := range reads {
				got = append(got, string(k))
			}
			slices.Sort(got)
			if ok != tt.ok || (ok && !reflect.DeepEqual(got, tt.reads)) {
				t.Errorf("reads %v, ok %v; want %v, %v", got, ok, tt.reads, tt.ok)
			}
		})
	}
}

// TestDecisionCacheOff leaves a policy set without a cache when a decision
// could depend on context it cannot key: the whole record, or the request
// ID, which every request has its own of.
func TestDecisionCacheOff(t *testing.T) {
	for _, tt := range []struct {
		policy string
		on     bool
	}{
		{permitAll, true},
		{`permit(principal, action, resource) when { context.source_ip.isLoopback() };`, true},
		{`permit(principal, action, resource) when { context.request_id like "req-*" };`, false},
		{`permit(principal, action, resource) when { context has request_id };`, false},
		{`permit(principal, action, resource) when { context == {} };`, false},
	} {
		a := newTestAuthorizer(t, map[string]string{"p.cedar": tt.policy}, nil)
		if on := a.snap.Load().decisions != nil; on != tt.on {
			t.Errorf("%s: cache on = %v, want %v", tt.policy, on, tt.on)
		}
	}
}

// decisionPolicies decide on every kind of input a key must hold: the
// principal's groups and claims, the resource and its arguments, context
// attributes of the request and of the credential source, context.aws
// and context.aws_cli.
const decisionPolicies = `
@id("s3-readers") permit(principal in Group::"s3-readers", action == Action::"tools/call", resource)
  when { context has aws && context.aws.complete && context.aws.read_only && context.aws.actions.containsAll(["s3:ListBuckets"]) };
@id("ec2-viewers") permit(principal in Group::"ec2-viewers", action == Action::"tools/call", resource)
  when { context has aws && context.aws.read_only && ["ec2"].containsAll(context.aws.services) };
@id("cli-ec2") permit(principal, action == Action::"tools/call", resource)
  when { context has aws_cli && context.aws_cli has service && context.aws_cli.service == "ec2" };
@id("docs") permit(principal, action == Action::"tools/call", resource == Tool::"aws___search_documentation")
  when { resource.arguments has limit && resource.arguments.limit < 10 };
@id("office-net") forbid(principal, action == Action::"tools/call", resource == Tool::"aws___search_documentation")
  unless { context has source_ip && context.source_ip.isInRange(ip("10.0.0.0/8")) };
@id("new-clients") permit(principal, action == Action::"tools/list", resource)
  when { context has protocol_version && context.protocol_version == "2026-07-28" };
@id("session") permit(principal, action == Action::"prompts/list", resource)
  when { context has mcp_session_id && context.mcp_session_id == "sess-1" };
@id("before") permit(principal, action == Action::"resources/list", resource)
  when { context.time < 1767225700 };
@id("account") permit(principal, action == Action::"ping", resource)
  when { context has aws_account && context.aws_account == "111122223333" };
@id("stream") permit(principal in Group::"streamers", action == Action::"mcp:stream", resource);
@id("prompt") permit(principal, action == Action::"prompts/get", resource)
  when { resource.arguments has x && resource.arguments.x == "1" };
@id("elicit") permit(principal, action == Action::"tools/call", resource == Tool::"ask")
  when { context has input_response_types && context.input_response_types.contains("elicitation") };
@id("staff") forbid(principal, action, resource) when { principal.claims has staff && principal.claims.staff == false };
`

// TestDecisionCacheDecidesAsEvaluation decides a table of requests, each
// changed in one input from the last, with a cache and without one: the
// two authorizers must agree on every decision, and the cache must serve
// the repeats.
func TestDecisionCacheDecidesAsEvaluation(t *testing.T) {
	cached := awsAuthorizer(t, decisionPolicies, nil)
	fresh := awsAuthorizer(t, decisionPolicies, nil)
	fresh.snap.Load().decisions = nil
	if cached.snap.Load().decisions == nil {
		t.Fatal("the policies are keyable; no cache")
	}
	alice, bob := ident("alice", "s3-readers", "streamers"), ident("bob")
	staff := ident("carol", "s3-readers")
	staff.Claims["staff"] = false
	viewer := ident("victor", "ec2-viewers")
	people := []*authn.Identity{alice, bob, staff, viewer}
	with := func(r Request, f func(*Request)) Request { f(&r); return r }
	docs := func(limit string) *mcp.Message {
		return toolCall("aws___search_documentation", `{"search_phrase":"s3","limit":`+limit+`}`)
	}
	list := request("tools/list", "")
	steps := []struct {
		name string
		who  int // index in people
		req  Request
	}{
		{"script", 0, post(runScript(boto3("s3", "ListBuckets")))},
		{"script, other user", 1, post(runScript(boto3("s3", "ListBuckets")))},
		{"script, forbidden claim", 2, post(runScript(boto3("s3", "ListBuckets")))},
		{"script writes", 0, post(runScript(boto3("s3", "DeleteBucket")))},
		{"ec2 script", 3, post(runScript(boto3("ec2", "DescribeInstances")))},
		{"ec2 script, other user", 0, post(runScript(boto3("ec2", "DescribeInstances")))},
		{"ec2 and s3 script", 3, post(runScript(boto3("ec2", "DescribeInstances") + boto3("s3", "ListBuckets")))},
		{"ec2 script writes", 3, post(runScript(boto3("ec2", "TerminateInstances")))},
		{"script, other region", 0, with(post(runScript(boto3("s3", "ListBuckets"))), func(r *Request) { r.Region = "eu-west-1" })},
		{"cli ec2", 1, post(awsCall("aws ec2 describe-instances"))},
		{"cli s3", 1, post(awsCall("aws s3 ls"))},
		{"docs from the office", 0, post(docs("5"))},
		{"docs from elsewhere", 0, with(post(docs("5")), func(r *Request) { r.SourceIP = "192.0.2.7:1234" })},
		{"docs, no source", 0, with(post(docs("5")), func(r *Request) { r.SourceIP = "" })},
		{"docs, limit too high", 0, post(docs("50"))},
		{"list, old client", 0, post(list)},
		{"list, new client", 0, with(post(list), func(r *Request) { r.ProtocolVersion = "2026-07-28" })},
		{"prompts, session", 0, post(request("prompts/list", ""))},
		{"prompts, other session", 0, with(post(request("prompts/list", "")), func(r *Request) { r.SessionID = "sess-2" })},
		{"resources, early", 0, post(request("resources/list", ""))},
		{"resources, late", 0, with(post(request("resources/list", "")), func(r *Request) { r.Time = r.Time.Add(time.Hour) })},
		{"ping, no account", 0, post(request("ping", ""))},
		{"ping, account", 0, with(post(request("ping", "")), func(r *Request) { r.Attributes = map[string]string{"aws_account": "111122223333"} })},
		{"ping, other account", 0, with(post(request("ping", "")), func(r *Request) { r.Attributes = map[string]string{"aws_account": "444455556666"} })},
		{"stream", 0, Request{HTTPMethod: "GET", SourceIP: "10.1.2.3:1", Time: time.Unix(1767225600, 0)}},
		{"stream, other user", 1, Request{HTTPMethod: "GET", SourceIP: "10.1.2.3:1", Time: time.Unix(1767225600, 0)}},
		{"prompt x=1", 0, post(request("prompts/get", `{"name":"p","arguments":{"x":"1"}}`))},
		{"prompt x=2", 0, post(request("prompts/get", `{"name":"p","arguments":{"x":"2"}}`))},
		{"batch", 0, post(runScript(boto3("s3", "ListBuckets")), docs("5"), list)},
		{"batch, other order", 0, post(list, docs("50"), runScript(boto3("s3", "ListBuckets")))},
		{"input responses", 0, post(request("tools/call", `{"name":"ask","arguments":{},"inputResponses":{"e1":{"action":"accept","content":{}}}}`))},
		{"no input responses", 0, post(toolCall("ask", `{}`))},
	}
	allowed, denied := 0, 0
	for round := range 2 {
		for _, s := range steps {
			id := people[s.who]
			got, gerr := cached.Authorize(t.Context(), id, s.req)
			want, werr := fresh.Authorize(t.Context(), id, s.req)
			if (gerr != nil) != (werr != nil) || !reflect.DeepEqual(got, want) {
				t.Errorf("round %d, %s:\n cached %+v (%v)\n fresh  %+v (%v)", round, s.name, got, gerr, want, werr)
			}
			if round == 0 && want.Allow {
				allowed++
			} else if round == 0 {
				denied++
			}
		}
	}
	// Both outcomes are exercised, and the repeats came from the cache:
	// every message but the input-responses one and prompts/get (whose
	// resource has attributes of its own) has an entry.
	if allowed < 8 || denied < 8 {
		t.Errorf("%d allowed, %d denied: the table does not exercise both", allowed, denied)
	}
	if n := cached.snap.Load().decisions.len(); n < 20 {
		t.Errorf("%d decisions cached", n)
	}
}

// TestDecisionCacheServesRepeat shows a repeat is answered from the cache
// (an entry altered behind the authorizer's back is what it returns) and
// that a step-up check, which decides for the principal with more scopes,
// does not read the token's entries.
func TestDecisionCacheServesRepeat(t *testing.T) {
	a := newTestAuthorizer(t, map[string]string{"p.cedar": `@id("x") permit(principal, action == Action::"tools/call", resource == Tool::"x");`}, nil)
	id := ident("u")
	req := post(toolCall("x", `{}`))
	if d := authorize(t, a, id, req); !d.Allow {
		t.Fatalf("denied: %+v", d)
	}
	c := a.snap.Load().decisions
	if c.len() != 1 {
		t.Fatalf("%d entries, want 1", c.len())
	}
	for k, d := range c.m {
		d.Allow, d.Policies = false, nil
		c.m[k] = d
	}
	if d := authorize(t, a, id, req); d.Allow {
		t.Errorf("allowed: the repeat was not served from the cache")
	}
	if d := authorize(t, a, ident("u"), req); !d.Allow {
		t.Errorf("another token was served the first token's entry: %+v", d)
	}
}

// TestDecisionCacheReload starts over with the policies: a decision cached
// under the old set is not served under the new one.
func TestDecisionCacheReload(t *testing.T) {
	var dir string
	a := newTestAuthorizer(t, map[string]string{"p.cedar": `@id("x") permit(principal, action == Action::"tools/call", resource == Tool::"x");`},
		func(d string, _ *Options) { dir = d })
	id := ident("u")
	req := post(toolCall("x", `{}`))
	if d := authorize(t, a, id, req); !d.Allow {
		t.Fatalf("denied: %+v", d)
	}
	if err := os.WriteFile(filepath.Join(dir, "p.cedar"), []byte(`@id("y") permit(principal, action == Action::"tools/call", resource == Tool::"y");`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if d := authorize(t, a, id, req); d.Allow {
		t.Errorf("allowed after the permit was removed: %+v", d)
	}
}

// TestDecisionCacheBounds pins the cache's limits: entries, the bytes of
// the calls its keys keep alive, and the text a key may hold.
func TestDecisionCacheBounds(t *testing.T) {
	c := newDecisionCache(nil)
	call := func(n int) *mappedCall { return &mappedCall{keyLen: n} }
	for i := range decisionCacheEntries {
		c.put(&decisionKey{action: "a", call: call(1), context: string(rune(i))}, ItemDecision{Allow: true})
	}
	if c.len() != decisionCacheEntries {
		t.Fatalf("%d entries", c.len())
	}
	c.put(&decisionKey{action: "b", call: call(1)}, ItemDecision{})
	if c.len() != 1 {
		t.Errorf("%d entries after the bound, want 1 (a fresh start)", c.len())
	}
	c.put(&decisionKey{action: "c", call: call(decisionCacheCallBytes)}, ItemDecision{})
	if c.len() != 1 || c.callBytes != decisionCacheCallBytes {
		t.Errorf("%d entries, %d call bytes; want 1, %d", c.len(), c.callBytes, decisionCacheCallBytes)
	}

	m := &decisionMemo{c: c, built: true}
	base := func() types.RecordMap { t.Fatal("base context built"); return nil }
	if _, ok := m.keyFor(strings.Repeat("m", decisionKeyText+1), nil, types.Entity{UID: types.NewEntityUID("Server", "h")}, base, nil); ok {
		t.Error("a method longer than the bound is cached")
	}
	if _, ok := m.keyFor("tools/call", call(0), types.Entity{}, base, nil); ok {
		t.Error("a call the call cache did not take is cached")
	}
	if _, ok := m.keyFor("prompts/get", nil, types.Entity{UID: types.NewEntityUID("Prompt", "p"), Attributes: types.NewRecord(types.RecordMap{"x": types.Long(1)})}, base, nil); ok {
		t.Error("a resource with attributes of its own is cached by its UID")
	}
	if _, ok := m.keyFor("tools/list", nil, types.Entity{UID: types.NewEntityUID("Server", "h")}, base, nil); !ok {
		t.Error("a bare server resource is not cached")
	}
}

// TestDecisionKeyContext encodes only the attributes the policies read,
// and tells apart absent, other-typed and other-valued ones.
func TestDecisionKeyContext(t *testing.T) {
	c := &decisionCache{reads: []types.String{"a", "b"}}
	keys := map[string]string{}
	for name, rec := range map[string]types.RecordMap{
		"none":           {},
		"a absent b=1":   {"b": types.Long(1)},
		"a=1":            {"a": types.Long(1)},
		"a=\"1\"":        {"a": types.String("1")},
		"a=1 b=1":        {"a": types.Long(1), "b": types.Long(1)},
		"a=11":           {"a": types.Long(11)},
		"a=ip":           {"a": types.IPAddr{}},
		"unread differs": {"c": types.Long(2)},
	} {
		keys[name] = string(c.key(nil, rec))
	}
	if keys["none"] != keys["unread differs"] {
		t.Error("an attribute no policy reads changed the key")
	}
	seen := map[string]string{}
	for name, k := range keys {
		if name == "unread differs" {
			continue
		}
		if other, dup := seen[k]; dup {
			t.Errorf("%s and %s share a key", name, other)
		}
		seen[k] = name
	}
}

// TestBaseContextKeys keeps baseContextKeys in step with baseContext: the
// decision cache builds the base context for its key only when a policy
// reads one of them.
func TestBaseContextKeys(t *testing.T) {
	req := post(request("ping", ""))
	req.ProtocolVersion = "2026-07-28"
	var got []types.String
	for k := range baseContext(&req, time.Unix(1, 0)) {
		got = append(got, k)
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(baseContextKeys))
	if !slices.Equal(got, want) {
		t.Errorf("baseContext sets %v; baseContextKeys lists %v", got, want)
	}
}

// TestDecisionCacheReadsBase builds the base context for a key only when a
// policy reads an attribute of it: the example policies read only what a
// call or a message sets.
func TestDecisionCacheReadsBase(t *testing.T) {
	for _, tt := range []struct {
		policy string
		base   bool
	}{
		{`permit(principal, action, resource) when { context has aws && context has aws_cli && context has input_response_types && context has task_id && context has subscriptions };`, false},
		{`permit(principal, action, resource) when { context.time > 0 };`, true},
		{`permit(principal, action, resource) when { context has mcp_session_id };`, true},
		{`permit(principal, action, resource) when { context has aws_account };`, false},
	} {
		a := newTestAuthorizer(t, map[string]string{"p.cedar": tt.policy}, nil)
		if got := a.snap.Load().decisions.readsBase; got != tt.base {
			t.Errorf("%s: readsBase = %v, want %v", tt.policy, got, tt.base)
		}
	}
	a := newTestAuthorizer(t, map[string]string{"p.cedar": `permit(principal, action, resource) when { context has aws_account };`}, nil)
	m := a.memo(a.snap.Load(), ident("u").TokenDigest)
	built := 0
	base := func() types.RecordMap { built++; return types.RecordMap{"aws_account": types.String("1")} }
	server := types.Entity{UID: types.NewEntityUID("Server", "h")}
	k, _ := m.keyFor("ping", nil, server, base, map[string]string{"aws_account": "1"})
	if built != 1 || k.context == "" {
		t.Errorf("an attribute of the credential source a policy reads is not in the key (built %d, key %q)", built, k.context)
	}
}

// TestDecisionCacheConcurrent decides the same and different calls from
// many goroutines while the cache keeps starting over (run with -race).
func TestDecisionCacheConcurrent(t *testing.T) {
	a := awsAuthorizer(t, decisionPolicies, nil)
	ids := []*authn.Identity{ident("alice", "s3-readers"), ident("bob")}
	done := make(chan error)
	for g := range 8 {
		go func() {
			for i := range 200 {
				id := ids[(g+i)%2]
				d, err := a.Authorize(t.Context(), id, post(runScript(boto3("s3", "ListBuckets"))))
				if err == nil && d.Allow != (id == ids[0]) {
					err = errors.New("decision " + strconv.FormatBool(d.Allow) + " for " + id.Subject)
				}
				if err != nil {
					done <- err
					return
				}
				if i%50 == 0 {
					a.snap.Load().decisions.put(&decisionKey{action: strconv.Itoa(g*1000 + i)}, ItemDecision{})
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
