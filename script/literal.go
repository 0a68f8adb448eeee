package script

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// decodeEscapes decodes the body of a non-raw Python str literal. It
// refuses (ok false) what it cannot decode exactly: \N{...} (needs the
// Unicode name database), surrogates, and malformed escapes CPython rejects.
func decodeEscapes(s string) (string, bool) {
	if strings.IndexByte(s, '\\') < 0 {
		return s, true
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			i++
			continue
		}
		if i+1 >= len(s) {
			return "", false
		}
		e := s[i+1]
		i += 2
		switch e {
		case '\n':
		case '\r':
			if i < len(s) && s[i] == '\n' {
				i++
			}
		case '\\', '\'', '"':
			b.WriteByte(e)
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte('\v')
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v := int(e - '0')
			for k := 0; k < 2 && i < len(s) && s[i] >= '0' && s[i] <= '7'; k++ {
				v = v*8 + int(s[i]-'0')
				i++
			}
			b.WriteRune(rune(v)) //nolint:gosec // three octal digits: at most 0o777
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			if i+n > len(s) {
				return "", false
			}
			v, err := strconv.ParseUint(s[i:i+n], 16, 32)
			if err != nil || strings.ContainsAny(s[i:i+n], "+-_") {
				return "", false
			}
			// Checked before the conversion: \UFFFFFFFF would wrap to a
			// negative rune, which Python refuses and WriteRune would
			// write as U+FFFD.
			if v > utf8.MaxRune || (v >= 0xD800 && v <= 0xDFFF) {
				return "", false
			}
			b.WriteRune(rune(v))
			i += n
		case 'N':
			return "", false
		default:
			// CPython keeps unknown escapes as they are (with a warning).
			b.WriteByte('\\')
			b.WriteByte(e)
		}
	}
	return b.String(), true
}

// dictLiteral converts a literal dict to JSON-like values. ok is false
// when any part of it is not a literal.
func (w *walker) dictLiteral(i int) (map[string]any, bool) {
	for w.kind(i) == kParenthesized {
		c := w.namedChildren(i)
		if len(c) != 1 {
			return nil, false
		}
		i = c[0]
	}
	if w.kind(i) != kDictionary {
		return nil, false
	}
	v, ok := w.literal(i)
	if !ok {
		return nil, false
	}
	return v.(map[string]any), true
}

// literal converts a literal expression to a JSON-like value.
func (w *walker) literal(i int) (any, bool) {
	switch w.kind(i) {
	case kString, kConcatenatedString:
		return w.stringLiteral(i)
	case kInteger:
		return parseInt(w.text(i))
	case kFloat:
		return parseFloat(w.text(i))
	case kTrue:
		return true, true
	case kFalse:
		return false, true
	case kNone:
		return nil, true
	case kUnaryOperator:
		op := w.child(i, gram.fOperator)
		arg := w.child(i, gram.fArgument)
		if op < 0 || arg < 0 {
			return nil, false
		}
		neg := w.kind(op) == kMinus
		if !neg && w.kind(op) != kPlus {
			return nil, false
		}
		switch w.kind(arg) {
		case kInteger:
			v, ok := parseInt(w.text(arg))
			if !ok {
				return nil, false
			}
			if neg {
				return -v, true
			}
			return v, true
		case kFloat:
			v, ok := parseFloat(w.text(arg))
			if !ok {
				return nil, false
			}
			if neg {
				return -v, true
			}
			return v, true
		}
		return nil, false
	case kParenthesized:
		c := w.namedChildren(i)
		if len(c) != 1 {
			return nil, false
		}
		return w.literal(c[0])
	case kList, kTuple:
		out := []any{}
		for _, c := range w.namedChildren(i) {
			v, ok := w.literal(c)
			if !ok {
				return nil, false
			}
			out = append(out, v)
		}
		return out, true
	case kDictionary:
		out := map[string]any{}
		for _, c := range w.namedChildren(i) {
			if w.kind(c) != kPair {
				return nil, false
			}
			k := w.child(c, gram.fKey)
			v := w.child(c, gram.fValue)
			if k < 0 || v < 0 {
				return nil, false
			}
			ks, ok := w.stringLiteral(k)
			if !ok {
				return nil, false
			}
			vv, ok := w.literal(v)
			if !ok {
				return nil, false
			}
			out[ks] = vv // a repeated key keeps the last value, as in Python
		}
		return out, true
	}
	return nil, false
}

// parseInt parses a Python integer literal that fits in int64.
func parseInt(s string) (int64, bool) {
	if !validUnderscores(s) {
		return 0, false
	}
	t := strings.ReplaceAll(s, "_", "")
	if len(t) > 1 && t[0] == '0' && t[1] >= '0' && t[1] <= '9' {
		// CPython allows leading zeros only in zero itself.
		if strings.Trim(t, "0") != "" {
			return 0, false
		}
		return 0, true
	}
	v, err := strconv.ParseInt(t, 0, 64)
	if err != nil {
		return 0, false
	}
	return v, true
}

// parseFloat parses a Python float literal (no imaginary part).
func parseFloat(s string) (float64, bool) {
	if !validUnderscores(s) || strings.ContainsAny(s, "jJxXpP") {
		return 0, false
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, false
	}
	return v, true
}

// validUnderscores accepts underscores only between two digits, as CPython.
func validUnderscores(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '_' {
			continue
		}
		if i == 0 || i == len(s)-1 || !isHexDigit(s[i-1]) || !isHexDigit(s[i+1]) {
			return false
		}
	}
	return true
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
