package authz

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mcpguard/mcpguard/awsapi"
	"github.com/mcpguard/mcpguard/script"
)

var update = flag.Bool("update", false, "rewrite testdata/aws/*.json from the current output")

// TestAWSContextCorpus runs every script of the analyzer's corpus
// (script/testdata/*.py) through Authorize and compares the context.aws it
// was decided with to testdata/aws/<name>.json (-update rewrites them), and
// cross-checks it against the analyzer's own golden analysis: the same
// completeness and reasons, and one action per golden call.
func TestAWSContextCorpus(t *testing.T) {
	scripts, err := filepath.Glob("../script/testdata/*.py")
	if err != nil || len(scripts) < 80 {
		t.Fatalf("%d corpus scripts (%v), want at least 80", len(scripts), err)
	}
	a := awsAuthorizer(t, permitAll, nil)
	cat := awsapi.MustDefault()
	for _, path := range scripts {
		name := strings.TrimSuffix(filepath.Base(path), ".py")
		t.Run(name, func(t *testing.T) {
			code, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got := awsOf(t, a, post(runScript(string(code))))
			if got == nil {
				t.Fatal("no context.aws")
			}
			raw, err := os.ReadFile(strings.TrimSuffix(path, ".py") + ".json")
			if err != nil {
				t.Fatal(err)
			}
			var an script.Analysis
			if err := json.Unmarshal(raw, &an); err != nil {
				t.Fatal(err)
			}
			if got.Complete != (an.Complete && len(an.Reasons) == 0) {
				t.Errorf("complete %v, analyzer says %v", got.Complete, an.Complete)
			}
			if len(an.Reasons) > 0 && !slices.Equal(got.Reasons, an.Reasons) {
				t.Errorf("reasons %q, analyzer says %q", got.Reasons, an.Reasons)
			}
			for _, c := range an.Calls {
				act, known := cat.Action(c.Service, c.Operation)
				if !slices.Contains(got.Actions, act) || known == slices.Contains(got.Unknown, act) {
					t.Errorf("call %s %s: actions %q unknown %q", c.Service, c.Operation, got.Actions, got.Unknown)
				}
				region := c.Region
				if region == "" {
					region = "us-east-1"
				}
				if !slices.Contains(got.Calls, AWSCall{Service: c.Service, Operation: c.Operation, Region: region}) {
					t.Errorf("call %+v missing from %+v", c, got.Calls)
				}
			}
			if got.ReadOnly && (!got.Complete || len(got.Unknown) > 0) {
				t.Errorf("read_only with complete=%v unknown=%q", got.Complete, got.Unknown)
			}
			enc, _ := json.MarshalIndent(got, "", "  ")
			enc = append(enc, '\n')
			golden := filepath.Join("testdata", "aws", name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, enc, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if os.IsNotExist(err) {
				// A script the analyzer's corpus gained later: the
				// cross-checks above still ran.
				t.Logf("no %s yet: run go test ./authz/ -run TestAWSContextCorpus -update", golden)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(want) != string(enc) {
				t.Errorf("context.aws differs from %s\ngot:\n%s\nwant:\n%s", golden, enc, want)
			}
		})
	}
}
