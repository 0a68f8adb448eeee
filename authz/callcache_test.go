package authz

import (
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/cedar-policy/cedar-go/types"

	"github.com/mcpguard/mcpguard/mcp"
	"github.com/mcpguard/mcpguard/script"
)

// TestCallCacheDecidesAsMapping decides each call twice, the second time
// from the call cache, and against an authorizer whose cache is bypassed:
// the three decisions, context.aws included, must be equal.
func TestCallCacheDecidesAsMapping(t *testing.T) {
	const policies = `
@id("s3-read") permit(principal, action == Action::"tools/call", resource)
  when { context has aws && context.aws.complete && context.aws.actions.containsAll(["s3:ListBuckets"]) && context.aws.read_only };
@id("cli") permit(principal, action == Action::"tools/call", resource)
  when { context has aws_cli && context.aws_cli has service && context.aws_cli.service == "ec2" };
@id("args") permit(principal, action == Action::"tools/call", resource == Tool::"aws___search_documentation")
  when { resource.arguments has limit && resource.arguments.limit == 5 };
@id("no-deletes") forbid(principal, action, resource)
  when { context has aws && context.aws.actions.contains("s3:DeleteBucket") };
`
	cached := awsAuthorizer(t, policies, nil)
	fresh := awsAuthorizer(t, policies, nil)
	for _, m := range []func() *mcp.Message{
		func() *mcp.Message { return runScript(boto3("s3", "ListBuckets")) },
		func() *mcp.Message { return runScript(boto3("s3", "ListBuckets") + boto3("s3", "DeleteBucket")) },
		func() *mcp.Message { return runScript("x = (") },
		func() *mcp.Message { return awsCall("aws ec2 describe-instances --region eu-west-1") },
		func() *mcp.Message { return awsCall("aws s3 ls") },
		func() *mcp.Message { return awsCall("aws 'unterminated") },
		func() *mcp.Message { return toolCall(ToolCallAWS, `{"cli_command":7}`) },
		func() *mcp.Message { return toolCall("aws___search_documentation", `{"search_phrase":"s3","limit":5}`) },
		func() *mcp.Message { return toolCall("aws___search_documentation", `{"search_phrase":"s3","limit":6}`) },
		func() *mcp.Message { return request("tools/call", `{"name":"aws___list_regions"}`) },
	} {
		first := authorize(t, cached, ident("u"), post(m()))
		second := authorize(t, cached, ident("u"), post(m()))
		fresh.aws.calls = newCallCache() // every decision of fresh maps anew
		want := authorize(t, fresh, ident("u"), post(m()))
		if !reflect.DeepEqual(first, want) || !reflect.DeepEqual(second, want) {
			t.Errorf("%s:\n first  %+v\n second %+v\n want   %+v", m().Params, first, second, want)
		}
	}
	if n := cached.aws.calls.len(); n != 10 {
		t.Errorf("%d calls cached, want 10", n)
	}
}

// TestCallCacheKey checks what makes two calls the same entry: the tool,
// the region and the arguments byte for byte.
func TestCallCacheKey(t *testing.T) {
	calls := 0
	a := awsAuthorizer(t, permitAll, func(o *AWSOptions) {
		o.Script = countingAnalyzer{n: &calls, next: mustAnalyzer(t)}
	})
	code := boto3("s3", "ListBuckets")
	steps := []struct {
		name  string
		req   Request
		calls int // analyses so far
	}{
		{"first", post(runScript(code)), 1},
		{"same bytes", post(runScript(code)), 1},
		{"other region", func() Request { r := post(runScript(code)); r.Region = "eu-west-1"; return r }(), 2},
		{"other region again", func() Request { r := post(runScript(code)); r.Region = "eu-west-1"; return r }(), 2},
		{"same value, other bytes", post(toolCall(ToolRunScript, `{ "code":`+mustJSON(code)+`}`)), 3},
		{"other tool, same arguments", post(toolCall("python", `{"code":`+mustJSON(code)+`}`)), 3},
		{"in a batch", post(runScript(code), runScript(code)), 3},
	}
	for _, s := range steps {
		d := authorize(t, a, ident("u"), s.req)
		if !d.Allow {
			t.Fatalf("%s: denied: %+v", s.name, d)
		}
		if calls != s.calls {
			t.Fatalf("%s: %d analyses, want %d", s.name, calls, s.calls)
		}
	}
	// The region is part of the analysis: a cached one must not leak.
	r := post(runScript(code))
	r.Region = "eu-west-1"
	if got := awsOf(t, a, r).Regions; !reflect.DeepEqual(got, []string{"eu-west-1"}) {
		t.Errorf("regions = %v", got)
	}
}

// fixedAnalyzer answers every script with one analysis.
type fixedAnalyzer struct {
	n  *int
	an script.Analysis
}

func (f fixedAnalyzer) Analyze(string) script.Analysis {
	*f.n++
	return f.an
}

// TestCallCacheSkipsTransient keeps analyses that the moment made
// incomplete out of the cache: the same script may parse in time later.
func TestCallCacheSkipsTransient(t *testing.T) {
	for _, reason := range []string{"parse_timeout", ReasonAnalyzerDisabled} {
		calls := 0
		a := awsAuthorizer(t, permitAll, func(o *AWSOptions) {
			o.Script = fixedAnalyzer{n: &calls, an: script.Analysis{Reasons: []string{reason}}}
		})
		for range 3 {
			authorize(t, a, ident("u"), post(runScript("x = 1")))
		}
		if calls != 3 || a.aws.calls.len() != 0 {
			t.Errorf("%s: %d analyses for 3 requests, %d cached; want 3, 0", reason, calls, a.aws.calls.len())
		}
	}
	// Any other gap is a property of the script and is kept.
	calls := 0
	a := awsAuthorizer(t, permitAll, func(o *AWSOptions) {
		o.Script = fixedAnalyzer{n: &calls, an: script.Analysis{Reasons: []string{"dynamic_operation"}}}
	})
	for range 3 {
		authorize(t, a, ident("u"), post(runScript("x = 1")))
	}
	if calls != 1 {
		t.Errorf("dynamic_operation: %d analyses for 3 requests, want 1", calls)
	}
}

// TestCallCacheBounds checks the entry and key-size bounds.
func TestCallCacheBounds(t *testing.T) {
	c := newCallCache()
	mc := &mappedCall{}
	for i := range callCacheEntries + 100 {
		c.put(callKey(nil, "t", "r", []byte(strconv.Itoa(i))), mc)
	}
	if n := c.len(); n != callCacheEntries {
		t.Errorf("%d entries, want %d", n, callCacheEntries)
	}
	big := callKey(nil, "t", "r", []byte(strings.Repeat("x", callCacheMaxKey)))
	c.put(big, mc)
	if _, ok := c.get(big); ok {
		t.Error("a key over callCacheMaxKey was cached")
	}
	// The byte bound holds with entries near the largest key size.
	c = newCallCache()
	for i := range callCacheKeyBytes/(callCacheMaxKey/2) + 10 {
		c.put(callKey(nil, "t", strconv.Itoa(i), []byte(strings.Repeat("x", callCacheMaxKey/2))), mc)
	}
	if c.keyBytes > callCacheKeyBytes {
		t.Errorf("%d key bytes cached, bound %d", c.keyBytes, callCacheKeyBytes)
	}
	sum := 0
	for k := range c.m {
		sum += len(k)
	}
	if sum != c.keyBytes {
		t.Errorf("keyBytes %d, keys hold %d", c.keyBytes, sum)
	}
}

// TestCallCacheConcurrent decides the same and different calls from many
// goroutines (run with -race): every decision is the one mapping gives.
func TestCallCacheConcurrent(t *testing.T) {
	a := awsAuthorizer(t, `@id("s3") permit(principal, action, resource) when { context has aws && context.aws.actions == ["s3:ListBuckets"] };`, nil)
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				op := "ListBuckets"
				if (g+i)%3 == 0 {
					op = "DeleteBucket"
				}
				d, err := a.Authorize(t.Context(), ident("u"), post(runScript(boto3("s3", op)+"# "+strconv.Itoa(i%5))))
				if err != nil || d.Allow != (op == "ListBuckets") {
					errs <- op + ": " + d.Reason()
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestRecordWith checks that a message's context record holds the shared
// context and its own keys, and that the shared map is left as it was.
func TestRecordWith(t *testing.T) {
	base := types.RecordMap{"time": types.Long(1), "request_id": types.String("r"), "aws": types.String("shadowed")}
	cli := types.NewRecord(types.RecordMap{"service": types.String("s3")})
	aws := types.NewRecord(types.RecordMap{"complete": types.True})
	extra := types.RecordMap{"input_responses": types.NewRecord(nil)}
	got := recordWith(base, &cli, &aws, extra)
	want := types.NewRecord(types.RecordMap{"time": types.Long(1), "request_id": types.String("r"), "aws_cli": cli, "aws": aws,
		"input_responses": types.NewRecord(nil)})
	if !got.Equal(want) {
		t.Errorf("record %v, want %v", got, want)
	}
	if !types.NewRecord(base).Equal(types.NewRecord(types.RecordMap{"time": types.Long(1), "request_id": types.String("r"), "aws": types.String("shadowed")})) {
		t.Errorf("base changed: %v", base)
	}
	if r := recordWith(base, nil, nil, nil); !r.Equal(types.NewRecord(base)) || len(base) != 3 {
		t.Errorf("no additions: %v (base %v)", r, base)
	}
}
