package envoysim

import (
	"strings"
	"testing"

	mutationrulesv3 "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Cases from Envoy's test/extensions/filters/common/mutation_rules/
// mutation_rules_test.cc (EmptyRulesTest) and Checker::isAllowed order:
// disallow_expression → allow_expression → disallow_all → routing headers →
// disallow_system / append on ':' → x-envoy → allowed.
func TestCheckerRules(t *testing.T) {
	defaults, _ := newChecker(nil)
	allowAll, _ := newChecker(&mutationrulesv3.HeaderMutationRules{AllowAllRouting: wrapperspb.Bool(true), AllowEnvoy: wrapperspb.Bool(true)})
	system, _ := newChecker(&mutationrulesv3.HeaderMutationRules{DisallowSystem: wrapperspb.Bool(true)})
	exprs, err := newChecker(&mutationrulesv3.HeaderMutationRules{
		DisallowAll:        wrapperspb.Bool(true),
		AllowExpression:    &matcherv3.RegexMatcher{Regex: "x-amz-.*|authorization"},
		DisallowExpression: &matcherv3.RegexMatcher{Regex: "x-amz-secret"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		c     *checker
		op    checkOp
		key   string
		value string
		want  checkResult
	}{
		{"default set regular", defaults, opSet, "x-my-header", "v", checkOK},
		{"default set :path", defaults, opSet, ":path", "/p", checkOK},
		{"default set host", defaults, opSet, "host", "h", checkIgnore},
		{"default set :authority", defaults, opSet, ":authority", "h", checkIgnore},
		{"default set :method", defaults, opSet, ":method", "GET", checkIgnore},
		{"default set :scheme", defaults, opSet, ":scheme", "https", checkIgnore},
		{"default set x-envoy", defaults, opSet, "x-envoy-foo", "1", checkIgnore},
		{"default append :path", defaults, opAppend, ":path", "/p", checkIgnore},
		{"default remove :method", defaults, opRemove, ":method", "", checkIgnore},
		{"default remove host", defaults, opRemove, "host", "", checkIgnore},
		{"default invalid value", defaults, opSet, "x-my-header", "Not\x01valid", checkIgnore},
		{"allow_all_routing set host", allowAll, opSet, "host", "h.example:443", checkOK},
		{"allow_all_routing bad scheme value", allowAll, opSet, ":scheme", "ftp", checkIgnore},
		{"allow_all_routing still cannot remove host", allowAll, opRemove, "host", "", checkIgnore},
		{"allow_envoy set x-envoy", allowAll, opSet, "x-envoy-foo", "1", checkOK},
		{"disallow_system :path", system, opSet, ":path", "/p", checkIgnore},
		{"allow_expression beats disallow_all", exprs, opSet, "x-amz-date", "d", checkOK},
		{"disallow_expression beats allow_expression", exprs, opSet, "x-amz-secret", "s", checkIgnore},
		{"disallow_all", exprs, opSet, "x-other", "o", checkIgnore},
		{"regex is a full match", exprs, opSet, "authorization-x", "o", checkIgnore},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.check(tt.op, tt.key, tt.value); got != tt.want {
				t.Fatalf("check = %v, want %v", got, tt.want)
			}
		})
	}
	isErr, _ := newChecker(&mutationrulesv3.HeaderMutationRules{DisallowIsError: wrapperspb.Bool(true)})
	if isErr.check(opSet, "host", "h") != checkFail {
		t.Error("disallow_is_error does not fail")
	}
}

// Envoy's HeaderMapImpl keeps pseudo-headers in front and setCopy replaces
// every value of a key.
func TestHeaderMapOrder(t *testing.T) {
	hm := &headerMap{}
	hm.add(":authority", "a")
	hm.add("x-a", "1")
	hm.add("x-a", "2")
	hm.add(":path", "/")
	hm.set("x-a", "3")
	got := []string{}
	for _, e := range hm.entries {
		got = append(got, e.Key+"="+e.Value)
	}
	want := []string{":authority=a", ":path=/", "x-a=3"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("entries %v, want %v", got, want)
	}
}

// FuzzHeaderMutation checks that no mutation, however malformed, panics,
// changes a routing header under the default rules, or leaves an invalid
// value or upper-case key in the map.
func FuzzHeaderMutation(f *testing.F) {
	f.Add("authorization", "AWS4-HMAC-SHA256", false, "x-amz-date", false)
	f.Add(":authority", "evil", false, "host", true)
	f.Add("X-Envoy-Foo", "1", true, ":path", false)
	f.Add("content-length", "12", false, "", true)
	f.Add("x-a", "bad\r\nvalue", true, "X-A", false)
	f.Fuzz(func(t *testing.T, key, value string, appendFlag bool, remove string, useValueField bool) {
		hv := &corev3.HeaderValue{Key: key, RawValue: []byte(value)}
		if useValueField {
			hv = &corev3.HeaderValue{Key: key, Value: value}
		}
		m := &extprocv3.HeaderMutation{
			SetHeaders:    []*corev3.HeaderValueOption{{Header: hv, Append: wrapperspb.Bool(appendFlag)}},
			RemoveHeaders: []string{remove},
		}
		hm := &headerMap{}
		for _, e := range []Header{{":authority", "gw"}, {":path", "/mcp"}, {":method", "POST"}, {":scheme", "https"}, {"x-a", "1"}} {
			hm.add(e.Key, e.Value)
		}
		c, _ := newChecker(nil)
		_, err := applyHeaderMutation(m, hm, false, c, false)
		for _, k := range []string{":authority", ":method", ":scheme"} {
			if v := hm.get(k); len(v) != 1 {
				t.Fatalf("%s now %q", k, v)
			}
		}
		if v, _ := hm.first(":authority"); v != "gw" {
			t.Fatalf(":authority changed to %q", v)
		}
		seenRegular := false
		for _, e := range hm.entries {
			if e.Key != strings.ToLower(e.Key) {
				t.Fatalf("key %q not lower-case", e.Key)
			}
			if strings.HasPrefix(e.Key, ":") && seenRegular {
				t.Fatalf("pseudo-header %q after a regular header", e.Key)
			}
			seenRegular = seenRegular || !strings.HasPrefix(e.Key, ":")
			if err == nil && !strings.HasPrefix(e.Key, ":") && !headerValueIsValid(e.Value) {
				t.Fatalf("invalid value %q stored for %q", e.Value, e.Key)
			}
		}
	})
}
