package extproc

import (
	"slices"
	"testing"

	"github.com/mcpguard/mcpguard/audit"
	"github.com/mcpguard/mcpguard/authz"
)

func TestAddAWSAnalysis(t *testing.T) {
	complete := &authz.AWSContext{Actions: []string{"s3:ListBuckets", "s3:ListObjectsV2"}, Complete: true}
	partial := &authz.AWSContext{Actions: []string{"iam:ListUsers", "s3:ListBuckets"}, Complete: false}
	tests := []struct {
		name     string
		items    []authz.ItemDecision
		actions  []string
		complete *bool
	}{
		{"no AWS message", []authz.ItemDecision{{Action: "tools/list"}}, nil, nil},
		{"one script", []authz.ItemDecision{{AWS: complete}}, []string{"s3:ListBuckets", "s3:ListObjectsV2"}, ptrTo(true)},
		{"batch: union, incomplete if any is", []authz.ItemDecision{{AWS: complete}, {Action: "ping"}, {AWS: partial}},
			[]string{"iam:ListUsers", "s3:ListBuckets", "s3:ListObjectsV2"}, ptrTo(false)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := &audit.Event{AWS: &audit.AWS{RoleARN: "arn:aws:iam::1:role/R"}}
			addAWSAnalysis(ev, tt.items)
			if !slices.Equal(ev.AWS.Actions, tt.actions) || (tt.complete == nil) != (ev.AWS.Complete == nil) ||
				(tt.complete != nil && *tt.complete != *ev.AWS.Complete) || ev.AWS.RoleARN == "" {
				t.Errorf("aws %+v, want actions %q complete %v", ev.AWS, tt.actions, tt.complete)
			}
		})
	}
	ev := &audit.Event{}
	addAWSAnalysis(ev, []authz.ItemDecision{{AWS: complete}})
	if ev.AWS == nil || len(ev.AWS.Actions) != 2 {
		t.Errorf("a denied request without credentials still records the actions: %+v", ev.AWS)
	}
	if !slices.Equal(complete.Actions, []string{"s3:ListBuckets", "s3:ListObjectsV2"}) {
		t.Error("the decision's actions were modified")
	}
}

func ptrTo[T any](v T) *T { return &v }
