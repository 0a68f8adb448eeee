package gateway

import (
	"fmt"

	"github.com/mcpguard/mcpguard/authz"
	"github.com/mcpguard/mcpguard/awsapi"
	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/script"
)

// AWSAnalysisOptions builds context.aws's options from authz_config.
// aws_analysis and the upstream's region, for the gateway and for the
// CLI's validate and authz check, so all three analyse alike.
func AWSAnalysisOptions(cfg *config.Config) (authz.AWSOptions, error) {
	o := authz.AWSOptions{Region: cfg.Upstream.Region}
	if cfg.Authz == nil {
		return o, nil
	}
	aa := cfg.Authz.AWSAnalysis
	an, err := script.New(script.Limits{
		MaxBytes: aa.MaxScriptBytes, MaxDepth: aa.MaxDepth, MaxNodes: aa.MaxNodes,
		AllowedImports: aa.AllowedImports,
	})
	if err != nil {
		return o, fmt.Errorf("authz_config.aws_analysis: %w", err)
	}
	rc, err := awsapi.NewReadClass(aa.ReadVerbs, aa.NotReadOnly)
	if err != nil {
		return o, fmt.Errorf("authz_config.aws_analysis: %w", err)
	}
	o.Script, o.ReadClass = an, rc
	return o, nil
}
