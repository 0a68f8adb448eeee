package config

import (
	"strings"
)

// Scope-down settings (aws_sts_config.scope_down and scope_down_config).
const (
	ScopeDownRequest = "request"
	ScopeDownMapping = "mapping"
	ScopeDownNone    = "none"

	// ToolScopeRefuse refuses a tool whose AWS actions are unknown under
	// scope_down request; ToolScopeMapping signs it with the mapping's
	// session; ToolScopeNoActions signs it with a session that allows no
	// action (a tool known to make no AWS call).
	ToolScopeRefuse    = "refuse"
	ToolScopeMapping   = "mapping"
	ToolScopeNoActions = "no_actions"

	defaultMaxActionSets = 32
)

// ScopeDownConfig is aws_sts_config.scope_down_config: how per-request
// session policies (scope_down: request) are built and bounded.
type ScopeDownConfig struct {
	// Conditions are added to every per-request policy statement so the
	// session is usable only through the upstream. nil (omitted) means the
	// AWS MCP Server's keys (Bool aws:ViaAWSMCPService true, StringEquals
	// aws:CalledViaAWSMCP aws-mcp.amazonaws.com); [] means none, for an
	// upstream that sets no such key.
	Conditions *[]ScopeCondition `yaml:"conditions"`
	// MaxActionSets bounds the distinct action sets one user holds sessions
	// for at once; past it a new set gets 429. Default 32.
	MaxActionSets int `yaml:"max_action_sets"`
	// UnknownTools decides tools whose AWS actions the gateway cannot know
	// (not aws___run_script, aws___call_aws, aws___get_presigned_url or a
	// knowledge tool): refuse (default) or mapping.
	UnknownTools string `yaml:"unknown_tools"`
	// Tools overrides UnknownTools per tool.
	Tools []ToolScope `yaml:"tools"`
}

// ToolScope is the scope-down setting of one tool.
type ToolScope struct {
	// Name is the tool name as the client calls it.
	Name string `yaml:"name"`
	// Scope is refuse, mapping or no_actions.
	Scope string `yaml:"scope"`
}

// ScopeCondition is one IAM condition of the per-request policy.
type ScopeCondition struct {
	// Operator is the IAM condition operator (Bool, StringEquals, ...).
	Operator string `yaml:"operator"`
	// Key is the condition key (aws:ViaAWSMCPService).
	Key string `yaml:"key"`
	// Values are the values; at least one.
	Values []string `yaml:"values"`
}

// validateScopeDown checks the scope-down keys. Whether a mapping's static
// session policy can be composed with per-request policies is decided by
// package sts, which validate and serve both run.
func (c *Config) validateScopeDown(ps *Problems) {
	s := &c.STS
	mode := func(path, v string, empty bool) {
		switch v {
		case ScopeDownRequest, ScopeDownMapping, ScopeDownNone:
		case "":
			if !empty {
				ps.add(path, "must be request, mapping or none")
			}
		default:
			ps.add(path, "must be request, mapping or none, got %q", v)
		}
	}
	mode("aws_sts_config.scope_down", s.ScopeDown, false)
	for i, m := range s.RoleMappings {
		mode(index("aws_sts_config.role_mappings", i)+".scope_down", m.ScopeDown, true)
	}
	sd := &s.ScopeDownConfig
	if sd.MaxActionSets < 1 {
		ps.add("aws_sts_config.scope_down_config.max_action_sets", "must be at least 1, got %d", sd.MaxActionSets)
	}
	switch sd.UnknownTools {
	case ToolScopeRefuse, ToolScopeMapping:
	default:
		ps.add("aws_sts_config.scope_down_config.unknown_tools", "must be refuse or mapping, got %q", sd.UnknownTools)
	}
	seen := map[string]bool{}
	for i, t := range sd.Tools {
		p := index("aws_sts_config.scope_down_config.tools", i)
		switch {
		case t.Name == "":
			ps.add(p+".name", "required")
		case seen[t.Name]:
			ps.add(p+".name", "tool %q is listed twice", t.Name)
		}
		seen[t.Name] = true
		switch t.Scope {
		case ToolScopeRefuse, ToolScopeMapping, ToolScopeNoActions:
		default:
			ps.add(p+".scope", "must be refuse, mapping or no_actions, got %q", t.Scope)
		}
	}
	if sd.Conditions != nil {
		for i, cd := range *sd.Conditions {
			p := index("aws_sts_config.scope_down_config.conditions", i)
			if cd.Operator == "" || strings.ContainsAny(cd.Operator, " \t") {
				ps.add(p+".operator", "required: an IAM condition operator such as Bool or StringEquals")
			}
			if !strings.Contains(cd.Key, ":") {
				ps.add(p+".key", "must be a condition key such as aws:ViaAWSMCPService, got %q", cd.Key)
			}
			if len(cd.Values) == 0 {
				ps.add(p+".values", "at least one value is required")
			}
		}
	}
}
