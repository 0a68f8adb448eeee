package authz

import (
	"fmt"
	"strings"
	"testing"
)

const benchArgs = `{"cli_command":"aws s3 ls s3://reports --region eu-west-1","filter":{"region":"us-east-1","tags":["prod","eu","finance"],"limits":{"max":100,"ratio":1.5},"owner":{"team":"data","cost_center":"42"}},"max_results":10}`

// BenchmarkAuthorizeNested decides one tools/call with a nested argument
// record against 100 policies that all apply to it (none can be skipped by
// the index).
func BenchmarkAuthorizeNested(b *testing.B) {
	var sb strings.Builder
	for i := range 99 {
		fmt.Fprintf(&sb, "@id(\"p%d\") permit(principal in Group::\"g%d\", action == Action::\"tools/call\", resource is Tool) when { resource.arguments has filter && resource.arguments.filter.region == \"r%d\" && resource.arguments.filter.tags.contains(\"prod\") };\n", i, i, i)
	}
	sb.WriteString(`@id("hit") permit(principal in Group::"s3-readers", action == Action::"tools/call", resource == Tool::"aws___call_aws") when { context.aws_cli.service == "s3" && resource.arguments.filter.limits.max <= 100 };` + "\n")
	a := newTestAuthorizer(b, map[string]string{"p.cedar": sb.String()}, nil)
	id := ident("alice", "s3-readers", "Everyone")
	req := post(toolCall("aws___call_aws", benchArgs))
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		d, err := a.Authorize(ctx, id, req)
		if err != nil || !d.Allow {
			b.Fatalf("decision %+v, %v", d, err)
		}
	}
}

// BenchmarkAuthorizeScoped decides one tools/call while N policies are
// scoped to other tools: the scope index keeps the cost flat in N.
func BenchmarkAuthorizeScoped(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("policies=%d", n), func(b *testing.B) {
			var sb strings.Builder
			for i := range n {
				fmt.Fprintf(&sb, "@id(\"t%d\") permit(principal in Group::\"g%d\", action == Action::\"tools/call\", resource == Tool::\"tool%d\") when { resource.arguments.x == %d };\n", i, i, i, i)
			}
			sb.WriteString(`@id("hit") permit(principal in Group::"s3-readers", action == Action::"tools/call", resource == Tool::"aws___call_aws") when { context.aws_cli.service == "s3" };` + "\n")
			a := newTestAuthorizer(b, map[string]string{"p.cedar": sb.String()}, nil)
			id := ident("alice", "s3-readers")
			req := post(toolCall("aws___call_aws", benchArgs))
			ctx := b.Context()
			b.ReportAllocs()
			for b.Loop() {
				d, err := a.Authorize(ctx, id, req)
				if err != nil || !d.Allow {
					b.Fatalf("decision %+v, %v", d, err)
				}
			}
		})
	}
}

// BenchmarkParseAWSCommand measures the cli_command parser alone.
func BenchmarkParseAWSCommand(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseAWSCommand(`aws ec2 describe-instances --region eu-west-1 --filters "Name=tag:env,Values=prod" --query 'Reservations[*].Instances[*].[InstanceId]'`); err != nil {
			b.Fatal(err)
		}
	}
}
