package authz

import (
	"errors"
	"fmt"
	"strings"
)

// normalizeURI returns the RFC 3986 §6.2.2 normal form of a resource URI
// (scheme and host lower-cased, percent-encodings of unreserved characters
// decoded, the hex digits of the others upper-cased, dot segments removed
// from a hierarchical path), or an error when the URI's raw form and its
// normal form name different things in a way a policy on one of them could
// miss. The rule is: the two may differ only in the case of the scheme and
// of the host, which every URI reader ignores. So a URI is refused when it
//
//   - holds a dot segment ("." or "..", raw or percent-encoded, in any
//     case mix), which removal would resolve to another path;
//   - percent-encodes an unreserved character ("%73ecret" is "secret");
//   - writes a percent-encoding with lower-case hex ("%2f"), or an invalid
//     one ("%zz", a lone "%");
//   - percent-encodes "/" or "\" in its path, or holds a raw "\", which
//     servers split differently;
//   - holds a control character or a space, invalid UTF-8, or a non-ASCII
//     whitespace, separator or invisible character (checkSeparators);
//     other non-ASCII characters (IRIs) are kept as they are.
//
// Policies see both forms (resource.uri and resource.normalized_uri) and
// the Resource entity is named by the normal form, so
// Resource::"file:///etc/passwd" matches FILE:///etc/passwd too.
func normalizeURI(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("uri is empty")
	}
	if err := checkSeparators(raw); err != nil {
		return "", fmt.Errorf("uri: %w", err)
	}
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c <= 0x20 || c == 0x7f:
			return "", errors.New("uri holds a space or a control character")
		case c == '\\':
			return "", errors.New("uri holds a backslash")
		case c == '%':
			if i+2 >= len(raw) || !isHexDigit(raw[i+1]) || !isHexDigit(raw[i+2]) {
				return "", errors.New("uri holds an invalid percent-encoding")
			}
			if isLowerHex(raw[i+1]) || isLowerHex(raw[i+2]) {
				return "", errors.New("uri holds a percent-encoding with lower-case hex digits")
			}
			d := hexValue(raw[i+1])<<4 | hexValue(raw[i+2])
			if isUnreservedByte(d) {
				return "", errors.New("uri percent-encodes an unreserved character")
			}
			i += 2
		}
	}
	rest := raw
	var b strings.Builder
	b.Grow(len(raw))
	if i := schemeEnd(raw); i > 0 {
		b.WriteString(strings.ToLower(raw[:i+1]))
		rest = raw[i+1:]
	}
	if strings.HasPrefix(rest, "//") {
		end := len(rest)
		if j := strings.IndexAny(rest[2:], "/?#"); j >= 0 {
			end = j + 2
		}
		b.WriteString("//")
		b.WriteString(lowerHost(rest[2:end]))
		rest = rest[end:]
	}
	path, tail := rest, ""
	if j := strings.IndexAny(rest, "?#"); j >= 0 {
		path, tail = rest[:j], rest[j:]
	}
	if strings.Contains(strings.ToUpper(path), "%2F") || strings.Contains(strings.ToUpper(path), "%5C") {
		return "", errors.New("uri percent-encodes a slash or backslash in its path")
	}
	for seg := range strings.SplitSeq(path, "/") {
		if seg == "." || seg == ".." {
			return "", errors.New("uri holds a dot segment")
		}
	}
	b.WriteString(path)
	b.WriteString(tail)
	return b.String(), nil
}

// schemeEnd returns the index of the ':' ending an RFC 3986 scheme
// (ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )), or -1.
func schemeEnd(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return i
		default:
			return -1
		}
	}
	return -1
}

// lowerHost lower-cases the host of an authority, leaving user info as it
// is (it is case-sensitive) and the hex digits of percent-encodings
// upper-case (RFC 3986 §6.2.2.1), so the result normalizes to itself.
func lowerHost(auth string) string {
	at := strings.LastIndexByte(auth, '@') + 1
	b := []byte(auth)
	for i := at; i < len(b); i++ {
		switch c := b[i]; {
		case c == '%':
			i += 2 // the two hex digits stay as they are
		case c >= 'A' && c <= 'Z':
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isLowerHex(c byte) bool { return c >= 'a' && c <= 'f' }

func hexValue(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// isUnreservedByte is RFC 3986 §2.3's unreserved set.
func isUnreservedByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
