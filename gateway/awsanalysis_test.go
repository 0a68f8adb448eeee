package gateway

import (
	"slices"
	"testing"

	"github.com/mcpguard/mcpguard/awsapi"
	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/script"
)

// TestAWSAnalysisDefaults keeps config's copies of the analyzer's and
// awsapi's defaults equal to the originals: config imports neither.
func TestAWSAnalysisDefaults(t *testing.T) {
	d := script.DefaultLimits()
	if config.DefaultMaxScriptBytes != d.MaxBytes || config.DefaultScriptMaxDepth != d.MaxDepth || config.DefaultScriptMaxNodes != d.MaxNodes {
		t.Errorf("config limits %d/%d/%d, analyzer %d/%d/%d", config.DefaultMaxScriptBytes, config.DefaultScriptMaxDepth,
			config.DefaultScriptMaxNodes, d.MaxBytes, d.MaxDepth, d.MaxNodes)
	}
	for _, c := range []struct {
		name      string
		cfg, orig []string
	}{
		{"allowed imports", config.DefaultAllowedImports, d.AllowedImports},
		{"read verbs", config.DefaultReadVerbs, awsapi.DefaultReadVerbs},
		{"not read-only", config.DefaultNotReadOnly, awsapi.DefaultNotReadOnly},
	} {
		a, b := slices.Clone(c.cfg), slices.Clone(c.orig)
		slices.Sort(a)
		slices.Sort(b)
		if !slices.Equal(a, b) {
			t.Errorf("%s: config %q, original %q", c.name, a, b)
		}
	}
}

func TestAWSAnalysisOptions(t *testing.T) {
	cfg, err := config.Load("../examples/quickstart/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	o, err := AWSAnalysisOptions(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if o.Region != "us-east-1" || o.Script == nil || o.ReadClass == nil {
		t.Fatalf("options %+v", o)
	}
	an := o.Script.Analyze("await call_boto3(service_name='s3', operation_name='ListBuckets')")
	if !an.Complete || len(an.Calls) != 1 {
		t.Errorf("analysis %+v", an)
	}
	if !o.ReadClass.ReadOnly("s3:ListBuckets") || o.ReadClass.ReadOnly("sts:GetSessionToken") {
		t.Error("the default read class is not applied")
	}
}
