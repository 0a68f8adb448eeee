package script

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// codingCookie is PEP 263's encoding declaration, which CPython honours on
// the first two lines of a source file.
var codingCookie = regexp.MustCompile(`^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)`)

// precheck refuses source text on which tree-sitter and CPython could
// disagree about what is code: bytes that are not UTF-8, NUL bytes, a
// carriage return that is not part of CRLF, and a declared encoding other
// than UTF-8 (CPython would decode the bytes differently from the text
// analysed here), and indentation with a space before a tab (CPython
// advances a tab to the next multiple of eight columns, tree-sitter-python
// adds eight).
func precheck(code string) []string {
	var out []string
	if !utf8.ValidString(code) {
		out = append(out, "invalid_utf8")
	}
	if strings.IndexByte(code, 0) >= 0 {
		out = append(out, "nul_byte")
	}
	for i := strings.IndexByte(code, '\r'); i >= 0; {
		if i+1 >= len(code) || code[i+1] != '\n' {
			out = append(out, "bare_carriage_return")
			break
		}
		j := strings.IndexByte(code[i+1:], '\r')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	for line := range strings.Lines(code) {
		indent := line[:len(line)-len(strings.TrimLeft(line, " \t\f"))]
		if sp := strings.IndexByte(indent, ' '); sp >= 0 && strings.IndexByte(indent[sp:], '\t') >= 0 {
			out = append(out, "mixed_indentation")
			break
		}
	}
	rest := code
	for line := 0; line < 2 && rest != ""; line++ {
		l, r, _ := strings.Cut(rest, "\n")
		rest = r
		if m := codingCookie.FindStringSubmatch(l); m != nil {
			enc := strings.ToLower(strings.ReplaceAll(m[1], "_", "-"))
			if enc != "utf-8" && enc != "utf8" && !strings.HasPrefix(enc, "utf-8-") {
				out = append(out, "encoding_declaration")
			}
			break
		}
		if t := strings.TrimLeft(l, " \t\f"); t != "" && t[0] != '#' {
			break // the cookie counts only on comment lines before code
		}
	}
	return out
}
