package main

import (
	"github.com/mcpguard/mcpguard/audit"
	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/toolpin"
)

// stateProblems checks the files serve would refuse to start on that the
// configuration only names: the audit checkpoint key and the tool pin
// store (a missing store is fine: it is created on the first write).
func stateProblems(cfg *config.Config) []string {
	var out []string
	if a := cfg.Audit; a.AuditEnabled() && a.Checkpoints.KeyFile != "" {
		if _, err := audit.LoadPrivateKey(a.Checkpoints.KeyFile); err != nil {
			out = append(out, "audit_config.checkpoints.key_file: "+err.Error())
		}
	}
	if p := cfg.ToolPinning; p.Mode != string(toolpin.Off) && p.Store != "" {
		if _, err := toolpin.OpenStore(p.Store, nil); err != nil {
			out = append(out, "tool_pinning.store: "+err.Error())
		}
	}
	return out
}
