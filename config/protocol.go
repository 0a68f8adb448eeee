package config

import (
	"errors"
	"os"
	"regexp"
	"slices"
	"strings"
)

// Protocol configures what mcpguard checks of the MCP protocol itself:
// which revisions it lets through, browser origins, session binding and
// how denials are answered.
type Protocol struct {
	// SupportedVersions are the MCP revisions requests may use, unless an
	// upstream names its own (protocol_versions). A request in another
	// revision gets 400 with JSON-RPC -32022 listing these. Default
	// 2026-07-28, 2025-11-25, 2025-06-18, 2025-03-26.
	SupportedVersions []string `yaml:"supported_versions"`
	// AllowedOrigins are the browser origins (scheme://host[:port]) a
	// request may carry in Origin; a request with any other Origin gets 403
	// (DNS rebinding). Default empty: requests without Origin only.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// DenialResponse is how a policy denial is answered: "http_error"
	// (default: HTTP 403 with a JSON-RPC error body), "tool_result" (a
	// tools/call gets a result with isError, other requests an HTTP 200
	// JSON-RPC error) or "jsonrpc_error" (HTTP 200 JSON-RPC error -32003).
	DenialResponse string `yaml:"denial_response"`
	// SessionBinding keys the wrapper that ties an upstream Mcp-Session-Id
	// to the user it was issued to.
	SessionBinding SessionBinding `yaml:"session_binding"`
}

// SessionBinding names the secret mcpguard seals session ids with. Every
// replica behind one Envoy must share it.
type SessionBinding struct {
	// SecretFile holds the current secret (at least 32 bytes). Default
	// empty: a random secret per process, which works for one replica
	// only and invalidates sessions on restart.
	SecretFile string `yaml:"secret_file"`
	// PreviousSecretFile holds the secret before the last rotation;
	// session ids sealed with it are still accepted. Optional.
	PreviousSecretFile string `yaml:"previous_secret_file"`
}

// Denial responses.
const (
	DenialToolResult   = "tool_result"
	DenialJSONRPCError = "jsonrpc_error"
	DenialHTTPError    = "http_error"
)

// defaultVersions mirrors mcp.DefaultVersions (config imports only the
// standard library and yaml).
func defaultVersions() []string {
	return []string{"2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"}
}

var versionRE = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)

// minSessionSecret is the shortest accepted session binding secret.
const minSessionSecret = 32

func (c *Config) validateProtocol(ps *Problems) {
	p := &c.Protocol
	checkVersions := func(path string, vs []string) {
		for i, v := range vs {
			if !versionRE.MatchString(v) {
				ps.add(index(path, i), "%q is not an MCP revision (YYYY-MM-DD)", v)
			}
		}
	}
	if len(p.SupportedVersions) == 0 {
		ps.add("mcp_protocol.supported_versions", "must name at least one revision")
	}
	checkVersions("mcp_protocol.supported_versions", p.SupportedVersions)
	checkVersions("upstream.protocol_versions", c.Upstream.ProtocolVersions)
	for i, u := range c.Upstreams {
		checkVersions(index("upstreams", i)+".protocol_versions", u.ProtocolVersions)
	}
	for i, o := range p.AllowedOrigins {
		if !validOrigin(o) {
			ps.add(index("mcp_protocol.allowed_origins", i), "%q is not an origin (lower-case scheme://host[:port], no path)", o)
		}
	}
	if !slices.Contains([]string{DenialToolResult, DenialJSONRPCError, DenialHTTPError}, p.DenialResponse) {
		ps.add("mcp_protocol.denial_response", "must be tool_result, jsonrpc_error or http_error, got %q", p.DenialResponse)
	}
	for _, f := range []struct{ path, file string }{
		{"mcp_protocol.session_binding.secret_file", p.SessionBinding.SecretFile},
		{"mcp_protocol.session_binding.previous_secret_file", p.SessionBinding.PreviousSecretFile},
	} {
		if f.file == "" {
			continue
		}
		b, err := os.ReadFile(f.file)
		switch {
		case err != nil:
			ps.add(f.path, "cannot read the secret file: %v", pathError(err))
		case len(strings.TrimSpace(string(b))) < minSessionSecret:
			ps.add(f.path, "the secret must be at least %d bytes", minSessionSecret)
		}
	}
	if p.SessionBinding.PreviousSecretFile != "" && p.SessionBinding.SecretFile == "" {
		ps.add("mcp_protocol.session_binding.previous_secret_file", "requires secret_file")
	}
}

// pathError drops the path from a file error (it is in the key's value).
func pathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// validOrigin accepts the serialized origin form browsers send.
func validOrigin(o string) bool {
	scheme, rest, ok := strings.Cut(o, "://")
	if !ok || (scheme != "https" && scheme != "http") || rest == "" {
		return false
	}
	return !strings.ContainsAny(rest, "/?#@ ") && strings.ToLower(o) == o
}

func (c *Config) resolveProtocolPaths(dir string) {
	c.Protocol.SessionBinding.SecretFile = resolve(dir, c.Protocol.SessionBinding.SecretFile)
	c.Protocol.SessionBinding.PreviousSecretFile = resolve(dir, c.Protocol.SessionBinding.PreviousSecretFile)
}
