package extproc

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mcpguard/mcpguard"
)

// checkPath decides whether :path may be authorized and signed. mcpguard
// signs the path Envoy forwards, so it accepts only a path that every
// reader (Envoy's router, its path normalization, the upstream's HTTP
// stack) reads the same way:
//
//   - it starts with "/" and holds only printable ASCII, no fragment and no
//     backslash (some servers read "\" as "/");
//   - no segment is "." or ".." (RFC 3986 §5.2.4 dot segments), raw or
//     percent-encoded in any case mix ("%2e", "%2E.", ".%2e");
//   - no segment is empty ("//": Envoy's merge_slashes would change it);
//   - no percent-encoded "/" or "\" (%2F, %5C: a router and a server split
//     such a path differently), no percent-encoded unreserved character
//     (%6D is "m", so "/%6Dcp" is "/mcp" to some readers and not to
//     others) and no encoded control character;
//   - when the upstream has a configured path, the request's path (without
//     the query) is that path, or "/<name>" for a named upstream (the route
//     the generated bootstrap gives it), and nothing else;
//   - the query names no SigV4 parameter (checkQuery).
//
// Each refusal is invalid_request (400), before anything is signed.
func checkPath(raw string, up Upstream) error {
	p, query, _ := strings.Cut(raw, "?")
	if err := cleanPath(p); err != nil {
		return mcpguard.E(mcpguard.KindInvalidRequest, "request path refused: "+err.Error(), nil)
	}
	if up.Path != "" && p != up.Path && (up.name == "" || p != "/"+up.name) {
		return mcpguard.Ef(mcpguard.KindInvalidRequest, "request path refused: the MCP endpoint of this upstream is %s", up.Path)
	}
	if err := checkQuery(query); err != nil {
		return mcpguard.E(mcpguard.KindInvalidRequest, "request refused: "+err.Error(), nil)
	}
	return nil
}

// cleanPath applies the syntactic rules of checkPath to the path part.
func cleanPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return errors.New("path must start with /")
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c <= 0x20 || c >= 0x7f:
			return errors.New("path holds a control, space or non-ASCII byte")
		case c == '\\':
			return errors.New("path holds a backslash")
		case c == '#':
			return errors.New("path holds a fragment")
		case c == '%':
			if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
				return errors.New("path holds an invalid percent-encoding")
			}
			d := unhex(p[i+1])<<4 | unhex(p[i+2])
			switch {
			case d == '/' || d == '\\':
				return errors.New("path holds an encoded slash or backslash")
			case d < 0x20 || d == 0x7f:
				return errors.New("path holds an encoded control character")
			case isUnreserved(d):
				return fmt.Errorf("path holds a percent-encoded %q", rune(d))
			}
			i += 2
		}
	}
	if p == "/" {
		return nil
	}
	for seg := range strings.SplitSeq(p[1:], "/") {
		switch seg {
		case "":
			return errors.New("path holds an empty segment (//)")
		case ".", "..":
			return errors.New("path holds a dot segment")
		}
	}
	return nil
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// isUnreserved is RFC 3986 §2.3's unreserved set: ALPHA DIGIT - . _ ~.
func isUnreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
