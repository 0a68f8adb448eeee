package authz

import (
	"github.com/cedar-policy/cedar-go/types"
)

// Unpermitted loads the policy set in opts as Check does and returns the
// actions of methods (MCP method names, such as "logging/setLevel") that no
// permit policy's action scope covers: no principal can ever be allowed
// them, whatever the conditions. `mcpguard validate` uses it to warn about
// capabilities an upstream advertises that clients cannot use.
func Unpermitted(opts Options, methods []string) ([]string, error) {
	src, err := readSources(&opts)
	if err != nil {
		return nil, err
	}
	s, err := buildSnapshot(src)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range methods {
		if !s.somePermitScopes(types.NewEntityUID(typeAction, types.String(m))) {
			out = append(out, m)
		}
	}
	return out, nil
}
