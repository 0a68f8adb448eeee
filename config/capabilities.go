package config

import (
	"slices"
	"sort"
	"strings"
)

// capabilityMethods are the server capabilities of MCP (the keys of an
// initialize or server/discover result's capabilities) and the client
// requests each one brings. `mcpguard validate` warns when an upstream
// advertises a capability whose methods no policy permits: clients such as
// the MCP Inspector call them right after connecting and fail when they are
// refused.
var capabilityMethods = map[string][]string{
	"tools":       {"tools/list", "tools/call"},
	"prompts":     {"prompts/list", "prompts/get"},
	"resources":   {"resources/list", "resources/read", "resources/templates/list"},
	"logging":     {"logging/setLevel"},
	"completions": {"completion/complete"},
	"tasks":       {"tasks/get", "tasks/list", "tasks/result", "tasks/cancel"},
}

// CapabilityMethods returns the client requests that server capability c
// brings (nil for a capability mcpguard does not know).
func CapabilityMethods(c string) []string { return slices.Clone(capabilityMethods[c]) }

// KnownCapabilities lists the capability names upstream.capabilities
// accepts, sorted.
func KnownCapabilities() []string {
	out := make([]string, 0, len(capabilityMethods))
	for c := range capabilityMethods {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// checkCapabilities reports unknown or repeated names in a capabilities list.
func checkCapabilities(ps *Problems, path string, caps []string) {
	for i, c := range caps {
		p := index(path, i)
		switch {
		case capabilityMethods[c] == nil:
			ps.add(p, "%q is not an MCP server capability (one of %s)", c, strings.Join(KnownCapabilities(), ", "))
		case slices.Index(caps, c) < i:
			ps.add(p, "duplicate entry %q", c)
		}
	}
}

func (c *Config) validateCapabilities(ps *Problems) {
	checkCapabilities(ps, "upstream.capabilities", c.Upstream.Capabilities)
	for i, u := range c.Upstreams {
		checkCapabilities(ps, index("upstreams", i)+".capabilities", u.Capabilities)
	}
}
