package authz

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/mcpguard/mcpguard/mcp"
)

func TestExplain(t *testing.T) {
	a, err := New(t.Context(), Options{
		PolicyFiles:  []string{filepath.Join(examplesDir, "*.cedar")},
		EntitiesFile: filepath.Join(examplesDir, "entities.json"),
		ServerHost:   testHost,
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		id    string
		group string
		msg   *mcp.Message
		want  []PermitExplanation // the closest permits, in order
	}{
		{
			name: "analyst's prefix match is not enough", id: "dana", group: "data-analysts", msg: awsCall("aws s3 lsx"),
			want: []PermitExplanation{
				// "lsx" is no s3 command, so the parse fails and aws_cli
				// has no operation at all.
				{"data-analysts-s3-ls", []string{"`context.aws_cli has operation` is false"}},
				{"everyone-docs-tools", []string{"`[\"aws___search_documentation\", \"aws___read_documentation\", \"aws___recommend\", \"aws___list_regions\", " +
					"\"aws___get_regional_availability\", \"aws___suggest_aws_commands\", \"aws___retrieve_skill\"].contains(resource.tool_name)` is false"}},
				{"aws-readers-read-only", []string{"principal does not match the scope `principal in Group::\"aws-readers\"`", "`context.aws.read_only` is false"}},
			},
		},
		{
			name: "alice on ec2", id: "alice", group: "s3-readers", msg: awsCall("aws ec2 describe-instances"),
			want: []PermitExplanation{
				{"everyone-docs-tools", []string{"`[\"aws___search_documentation\", \"aws___read_documentation\", \"aws___recommend\", \"aws___list_regions\", " +
					"\"aws___get_regional_availability\", \"aws___suggest_aws_commands\", \"aws___retrieve_skill\"].contains(resource.tool_name)` is false"}},
				{"s3-readers-use-s3", []string{"`context.aws_cli.service == \"s3\"` is false"}},
				// A read-only command: only the group is missing.
				{"aws-readers-read-only", []string{"principal does not match the scope `principal in Group::\"aws-readers\"`"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ex, err := a.Explain(t.Context(), ident(tt.id, tt.group), post(tt.msg))
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow || len(ex) != 1 || ex[0].Allow {
				t.Fatalf("decision %+v, explanation %+v", d, ex)
			}
			got := ex[0].Closest
			if len(got) != len(tt.want) {
				t.Fatalf("closest %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i].Policy != tt.want[i].Policy || !slices.Equal(got[i].Unmet, tt.want[i].Unmet) {
					t.Errorf("closest[%d] = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
	// An allowed message needs no explanation.
	_, ex, err := a.Explain(t.Context(), ident("alice", "s3-readers"), post(awsCall("aws s3 ls")))
	if err != nil || !ex[0].Allow || len(ex[0].Closest) != 0 {
		t.Errorf("allowed: %+v %v", ex, err)
	}
}

func TestExplainErrorsAndUnless(t *testing.T) {
	a := newTestAuthorizer(t, map[string]string{"p.cedar": `@id("region") permit(principal, action == Action::"tools/call", resource) when { resource.arguments.region == "eu-west-1" };
@id("outside") permit(principal, action == Action::"tools/call", resource) unless { context.source_ip.isInRange(ip("10.0.0.0/8")) };
@id("ping") permit(principal, action == Action::"ping", resource);`}, nil)
	_, ex, err := a.Explain(t.Context(), ident("a"), post(toolCall("t", `{}`))) // from 10.1.2.3
	if err != nil {
		t.Fatal(err)
	}
	got := ex[0].Closest
	want := []PermitExplanation{
		{"outside", []string{"`unless { context.source_ip.isInRange(ip(\"10.0.0.0/8\")) }` is true"}},
		{"region", []string{"`resource.arguments.region == \"eu-west-1\"` failed: record does not have the attribute `region`"}},
		{"ping", []string{"action does not match the scope `action == Action::\"ping\"`"}},
	}
	if len(got) != len(want) {
		t.Fatalf("closest %+v", got)
	}
	for i := range want {
		if got[i].Policy != want[i].Policy || !slices.Equal(got[i].Unmet, want[i].Unmet) {
			t.Errorf("closest[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}
