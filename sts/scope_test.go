package sts

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/test/fakests"
)

const mcpCond = `"Condition":{"Bool":{"aws:ViaAWSMCPService":"true"},"StringEquals":{"aws:CalledViaAWSMCP":"aws-mcp.amazonaws.com"}}`

func mustScoper(t *testing.T, static string, arns []string, conds []Condition) *scoper {
	t.Helper()
	if conds == nil {
		conds = DefaultScopeConditions()
	}
	s, err := compileScoper(&role{Mapping: Mapping{RoleARN: roleS3, SessionPolicy: static, SessionPolicyARNs: arns}}, conds)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestScopePolicy(t *testing.T) {
	tests := []struct {
		name    string
		static  string
		conds   []Condition
		actions []string
		want    string
	}{
		{"one action", "", nil, []string{"s3:ListAllMyBuckets"},
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:ListAllMyBuckets"],"Resource":"*",` + mcpCond + `}]}`},
		{"sorted and deduplicated", "", nil, []string{"s3:ListBucket", "ec2:DescribeInstances", "s3:ListBucket"},
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:DescribeInstances","s3:ListBucket"],"Resource":"*",` + mcpCond + `}]}`},
		{"no action: deny all", "", nil, nil,
			`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}`},
		{"no conditions configured", "", []Condition{}, []string{"iam:ListUsers"},
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:ListUsers"],"Resource":"*"}]}`},
		{"static wildcard keeps only matching actions", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:List*","Resource":"arn:aws:s3:::data*"}]}`, nil,
			[]string{"s3:ListBucket", "iam:ListUsers", "s3:GetObject"},
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:ListBucket"],"Resource":"arn:aws:s3:::data*",` + mcpCond + `}]}`},
		{"static ? wildcard and case", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["EC2:Describe?nstances"],"Resource":"*"}]}`, nil,
			[]string{"ec2:DescribeInstances"},
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:DescribeInstances"],"Resource":"*",` + mcpCond + `}]}`},
		{"static allows none of them", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`, nil,
			[]string{"iam:ListUsers"},
			`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}`},
		{"static NotAction and Deny kept", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"iam:*","Resource":"*","Condition":{"StringEquals":{"aws:RequestedRegion":"eu-central-1"}}},{"Effect":"Deny","Action":"s3:DeleteObject","Resource":"*"}]}`, nil,
			[]string{"iam:ListUsers", "s3:ListBucket"},
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:ListBucket"],"Resource":"*","Condition":{"Bool":{"aws:ViaAWSMCPService":"true"},"StringEquals":{"aws:CalledViaAWSMCP":"aws-mcp.amazonaws.com","aws:RequestedRegion":"eu-central-1"}}},{"Effect":"Deny","Action":"s3:DeleteObject","Resource":"*"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustScoper(t, tt.static, nil, tt.conds)
			got, err := s.policy(normalizeActions(tt.actions))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("policy\n got %s\nwant %s", got, tt.want)
			}
			if !json.Valid([]byte(got)) {
				t.Fatal("not JSON")
			}
		})
	}
}

func TestScopeComposeRefused(t *testing.T) {
	tests := []struct {
		name, static string
		arns         []string
		want         string
	}{
		{"managed session policies union", "", []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"}, "session_policy_arns"},
		{"principal", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}`, nil, "Principal"},
		{"no action", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Resource":"*"}]}`, nil, "exactly one of Action and NotAction"},
		{"clashing condition", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:ViaAWSMCPService":"false"}}}]}`, nil, "also a scope-down condition"},
		{"bad effect", `{"Version":"2012-10-17","Statement":[{"Effect":"Maybe","Action":"s3:*","Resource":"*"}]}`, nil, "Effect"},
		{"action not service:name", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ListBuckets","Resource":"*"}]}`, nil, "service:action"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := compileScoper(&role{Mapping: Mapping{RoleARN: roleS3, SessionPolicy: tt.static, SessionPolicyARNs: tt.arns}}, DefaultScopeConditions())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestNewRefusesUnsafeScopeConfigs(t *testing.T) {
	tests := []struct {
		name string
		m    Mapping
		def  ScopeMode
		want string
	}{
		{"none drops static policy", Mapping{Claim: "a", RoleARN: roleS3, SessionPolicy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`, ScopeDown: ScopeNone}, "", "scope_down none"},
		{"request with policy ARNs by default", Mapping{Claim: "a", RoleARN: roleS3, SessionPolicyARNs: []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"}}, ScopeRequest, "session_policy_arns"},
		{"unknown mode", Mapping{Claim: "a", RoleARN: roleS3, ScopeDown: "always"}, "", "must be request, mapping or none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Options{Region: "us-east-1", Mappings: []Mapping{tt.m}, ScopeDown: tt.def})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestMatchAction(t *testing.T) {
	tests := []struct {
		p, a string
		want bool
	}{
		{"*", "s3:GetObject", true},
		{"s3:*", "s3:GetObject", true},
		{"s3:Get*", "s3:GetObject", true},
		{"s3:Get*", "s3:PutObject", false},
		{"S3:GETOBJECT", "s3:GetObject", true},
		{"s3:?etObject", "s3:GetObject", true},
		{"s3:?etObject", "s3:etObject", false},
		{"s3:*Object*", "s3:GetObjectAcl", true},
		{"ec2:*", "s3:GetObject", false},
		{"s3:GetObject", "s3:GetObjectAcl", false},
	}
	for _, tt := range tests {
		if got := MatchAction(tt.p, tt.a); got != tt.want {
			t.Errorf("MatchAction(%q, %q) = %v", tt.p, tt.a, got)
		}
	}
}

func scopedEnv(t testing.TB, mutate func(*Options, *fakests.Options)) *env {
	t.Helper()
	return newEnv(t, func(_ *env, o *Options, fo *fakests.Options) {
		o.ScopeDown = ScopeRequest
		if mutate != nil {
			mutate(o, fo)
		}
	})
}

func TestScopedCredentialsCacheKeying(t *testing.T) {
	e := scopedEnv(t, nil)
	alice := e.user(t, "alice", "s3-readers")
	ctx := t.Context()
	get := func(acts ...string) *Grant {
		t.Helper()
		g, err := e.broker.ScopedCredentials(ctx, alice, Scope{Actions: acts})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	g1 := get("s3:ListAllMyBuckets")
	if n := len(e.fake.Calls()); n != 1 {
		t.Fatalf("%d STS calls after the first request, want 1", n)
	}
	calls := e.fake.Calls()
	if !strings.Contains(calls[0].Policy, `"s3:ListAllMyBuckets"`) || !strings.Contains(calls[0].Policy, "aws:ViaAWSMCPService") {
		t.Fatalf("STS got policy %s", calls[0].Policy)
	}
	cred, _ := e.fake.Issued(g1.Credentials.AccessKeyID)
	if cred.SessionPolicy != calls[0].Policy || g1.Scope == nil || g1.Scope.PolicyDigest != PolicyDigest(calls[0].Policy) {
		t.Fatalf("issued policy %q, grant scope %+v", cred.SessionPolicy, g1.Scope)
	}
	g2 := get("s3:ListAllMyBuckets", "s3:ListAllMyBuckets")
	if n := len(e.fake.Calls()); n != 1 || g2.Credentials.AccessKeyID != g1.Credentials.AccessKeyID {
		t.Fatalf("same set: %d STS calls, same key %v", n, g2.Credentials.AccessKeyID == g1.Credentials.AccessKeyID)
	}
	g3 := get("iam:ListUsers")
	if n := len(e.fake.Calls()); n != 2 || g3.Credentials.AccessKeyID == g1.Credentials.AccessKeyID {
		t.Fatalf("other set: %d STS calls, want 2 and new credentials", n)
	}
	g4 := get()
	if n := len(e.fake.Calls()); n != 3 || g4.Scope == nil || len(g4.Scope.Actions) != 0 {
		t.Fatalf("empty set: %d STS calls, scope %+v", n, g4.Scope)
	}
	if p := e.fake.Calls()[2].Policy; !strings.Contains(p, `"Effect":"Deny","Action":"*"`) {
		t.Fatalf("no-action session policy %s", p)
	}
	// The mapping's session is a different entry from every scoped one.
	g5, err := e.broker.ScopedCredentials(ctx, alice, Scope{UseMapping: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(e.fake.Calls()); n != 4 || g5.Scope != nil || e.fake.Calls()[3].Policy != "" {
		t.Fatalf("mapping session: %d calls, scope %+v", n, g5.Scope)
	}
}

func TestScopedConcurrentFirstRequestsMakeOneCall(t *testing.T) {
	e := scopedEnv(t, nil)
	e.fake.SetLatency(50 * time.Millisecond)
	alice := e.user(t, "alice", "s3-readers")
	var wg sync.WaitGroup
	keys := make([]string, 1000)
	errs := make([]error, 1000)
	for i := range keys {
		wg.Go(func() {
			g, err := e.broker.ScopedCredentials(t.Context(), alice, Scope{Actions: []string{"s3:ListBucket", "s3:GetObject"}})
			if err != nil {
				errs[i] = err
				return
			}
			keys[i] = g.Credentials.AccessKeyID
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if n := len(e.fake.Calls()); n != 1 {
		t.Fatalf("%d STS calls for 1000 simultaneous first requests of one set, want 1", n)
	}
	for _, k := range keys {
		if k != keys[0] {
			t.Fatal("requests got different credentials")
		}
	}
}

func TestScopedRefusals(t *testing.T) {
	t.Run("unknown actions", func(t *testing.T) {
		e := scopedEnv(t, nil)
		_, err := e.broker.ScopedCredentials(t.Context(), e.user(t, "alice", "s3-readers"),
			Scope{Refusal: mcpguard.E(mcpguard.KindForbidden, "operation s3:Frobnicate has no known IAM action", nil)})
		if mcpguard.KindOf(err) != mcpguard.KindForbidden || !strings.Contains(mcpguard.SafeMessage(err), "s3:Frobnicate") {
			t.Fatalf("err = %v", err)
		}
		if len(e.fake.Calls()) != 0 {
			t.Fatal("a refused request reached STS")
		}
	})
	t.Run("policy too large locally", func(t *testing.T) {
		e := scopedEnv(t, nil)
		var acts []string
		for i := range 120 {
			acts = append(acts, fmt.Sprintf("ec2:DescribeSomething%03d", i))
		}
		_, err := e.broker.ScopedCredentials(t.Context(), e.user(t, "alice", "s3-readers"), Scope{Actions: acts})
		if mcpguard.KindOf(err) != mcpguard.KindForbidden || !strings.Contains(mcpguard.SafeMessage(err), "2048") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("packed policy too large at STS", func(t *testing.T) {
		e := scopedEnv(t, func(_ *Options, fo *fakests.Options) { fo.PackedPolicyLimit = 200 })
		_, err := e.broker.ScopedCredentials(t.Context(), e.user(t, "alice", "s3-readers"),
			Scope{Actions: []string{"s3:GetObject", "s3:ListBucket", "s3:PutObject"}})
		var me *mcpguard.Error
		if !errors.As(err, &me) || me.Kind != mcpguard.KindForbidden || me.Reason != "scope_packed_policy_too_large" ||
			!strings.Contains(me.Msg, "PackedPolicyTooLarge") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("mapping mode ignores the scope", func(t *testing.T) {
		e := newEnv(t, nil)
		g, err := e.broker.ScopedCredentials(t.Context(), e.user(t, "alice", "s3-readers"), Scope{Actions: []string{"s3:GetObject"}})
		if err != nil || g.Scope != nil || e.fake.Calls()[0].Policy != "" {
			t.Fatalf("grant %+v, err %v", g, err)
		}
	})
}

func TestScopedActionSetBound(t *testing.T) {
	e := scopedEnv(t, func(o *Options, _ *fakests.Options) { o.MaxActionSets = 2 })
	alice := e.user(t, "alice", "s3-readers")
	bob := e.user(t, "bob", "s3-readers")
	get := func(id *authn.Identity, act string) error {
		_, err := e.broker.ScopedCredentials(t.Context(), id, Scope{Actions: []string{act}})
		return err
	}
	for _, a := range []string{"s3:GetObject", "s3:ListBucket", "s3:GetObject"} {
		if err := get(alice, a); err != nil {
			t.Fatal(err)
		}
	}
	err := get(alice, "s3:PutObject")
	if mcpguard.KindOf(err) != mcpguard.KindRateLimited || RetryAfter(err) <= 0 {
		t.Fatalf("third set: err = %v, retry after %v", err, RetryAfter(err))
	}
	if RetryAfter(err) > time.Hour {
		t.Fatalf("retry after %v beyond the session duration", RetryAfter(err))
	}
	// Cached sets keep working; other users are not affected.
	if err := get(alice, "s3:ListBucket"); err != nil {
		t.Fatal(err)
	}
	if err := get(bob, "s3:PutObject"); err != nil {
		t.Fatal(err)
	}
	// Once the oldest sessions would have expired, a new set is admitted.
	e.clk.Advance(RetryAfter(err))
	alice = e.user(t, "alice", "s3-readers")
	if err := get(alice, "s3:PutObject"); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
}
