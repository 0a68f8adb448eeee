package mcp

import (
	"bytes"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/mcpguard/mcpguard"
)

// memberSink receives the members of one object as the scanner validates
// it: the key after unescaping and the exact bytes of the value. Only the
// objects the caller asks about get a sink; nested values are validated
// without one.
type memberSink interface {
	member(key, raw []byte) error
}

// scanner is a strict RFC 8259 validator: one pass, no backtracking, so the
// work is linear in the input. Nesting recurses, but never deeper than
// maxDepth, which Limits caps at maxDepthCeiling.
type scanner struct {
	data     []byte
	pos      int
	depth    int
	maxDepth int
}

// smallObject is how many keys an object may hold before duplicate
// detection switches from a linear scan to a map, keeping small objects
// allocation-free and large ones linear.
const smallObject = 8

func (s *scanner) fail(reason, msg string, off int) error {
	e := mcpguard.Ef(mcpguard.KindParseError, "parse error: %s at byte %d", msg, off)
	e.Reason = reason
	return e
}

func (s *scanner) eof() error {
	return s.fail("syntax", "unexpected end of input", len(s.data))
}

// unexpected describes the byte at s.pos without echoing more than one
// printable character of the input.
func (s *scanner) unexpected(what string) error {
	if s.pos >= len(s.data) {
		return s.eof()
	}
	c := s.data[s.pos]
	switch {
	case c < 0x20 || c == 0x7f:
		return s.fail("control_character", "control character "+strconv.QuoteRuneToASCII(rune(c))+" outside a string", s.pos)
	case c >= utf8.RuneSelf:
		if r, size := utf8.DecodeRune(s.data[s.pos:]); r == utf8.RuneError && size == 1 {
			return s.fail("invalid_utf8", "invalid UTF-8", s.pos)
		}
		return s.fail("syntax", "unexpected non-ASCII character, expected "+what, s.pos)
	}
	return s.fail("syntax", "unexpected character "+strconv.QuoteRune(rune(c))+", expected "+what, s.pos)
}

func (s *scanner) skipWS() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// value validates one JSON value starting at s.pos. sink, when not nil,
// receives the members of the value if it is an object.
func (s *scanner) value(sink memberSink) error {
	if s.pos >= len(s.data) {
		return s.eof()
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		return s.object(sink)
	case c == '[':
		return s.array()
	case c == '"':
		_, _, err := s.str()
		return err
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	}
	return s.unexpected("a value")
}

func (s *scanner) literal(lit string) error {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		return s.fail("syntax", "invalid literal, expected "+lit, s.pos)
	}
	s.pos += len(lit)
	return nil
}

func (s *scanner) enter() error {
	s.depth++
	if s.depth > s.maxDepth {
		return s.fail("depth", "nesting deeper than "+strconv.Itoa(s.maxDepth), s.pos)
	}
	return nil
}

func (s *scanner) object(sink memberSink) error {
	if err := s.enter(); err != nil {
		return err
	}
	s.pos++ // '{'
	s.skipWS()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		s.depth--
		return nil
	}
	var small [smallObject][]byte
	n := 0
	var seen map[string]struct{}
	for {
		if s.pos >= len(s.data) {
			return s.eof()
		}
		if s.data[s.pos] != '"' {
			return s.unexpected("an object key")
		}
		keyPos := s.pos
		key, escaped, err := s.str()
		if err != nil {
			return err
		}
		if escaped {
			key = appendUnescaped(nil, key)
		}
		dup := false
		if seen != nil {
			_, dup = seen[string(key)]
			seen[string(key)] = struct{}{}
		} else {
			for _, k := range small[:n] {
				if bytes.Equal(k, key) {
					dup = true
					break
				}
			}
			if n < smallObject {
				small[n] = key
				n++
			} else {
				seen = make(map[string]struct{}, 2*smallObject)
				for _, k := range small[:n] {
					seen[string(k)] = struct{}{}
				}
				seen[string(key)] = struct{}{}
			}
		}
		if dup {
			return s.fail("duplicate_key", "duplicate object key "+quoteShort(key), keyPos)
		}
		s.skipWS()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return s.unexpected("':'")
		}
		s.pos++
		s.skipWS()
		start := s.pos
		if err := s.value(nil); err != nil {
			return err
		}
		if sink != nil {
			if err := sink.member(key, s.data[start:s.pos]); err != nil {
				return err
			}
		}
		s.skipWS()
		if s.pos >= len(s.data) {
			return s.eof()
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
			s.skipWS()
		case '}':
			s.pos++
			s.depth--
			return nil
		default:
			return s.unexpected("',' or '}'")
		}
	}
}

func (s *scanner) array() error {
	if err := s.enter(); err != nil {
		return err
	}
	s.pos++ // '['
	s.skipWS()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		s.depth--
		return nil
	}
	for {
		if err := s.value(nil); err != nil {
			return err
		}
		s.skipWS()
		if s.pos >= len(s.data) {
			return s.eof()
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
			s.skipWS()
		case ']':
			s.pos++
			s.depth--
			return nil
		default:
			return s.unexpected("',' or ']'")
		}
	}
}

// str validates the string at s.pos and returns its content as written,
// without the quotes, and whether it contains escapes. It rejects control
// characters, invalid UTF-8 and escapes that name a lone UTF-16 surrogate:
// each would decode differently in different parsers.
func (s *scanner) str() (content []byte, escaped bool, err error) {
	d := s.data
	start := s.pos + 1
	i := start
	for {
		for i < len(d) {
			if c := d[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
				break
			}
			i++
		}
		if i >= len(d) {
			return nil, false, s.fail("syntax", "unterminated string", s.pos)
		}
		switch c := d[i]; {
		case c == '"':
			s.pos = i + 1
			return d[start:i], escaped, nil
		case c == '\\':
			escaped = true
			if i+1 >= len(d) {
				return nil, false, s.fail("syntax", "unterminated string", s.pos)
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				r, ok := hex4(d, i+2)
				if !ok {
					return nil, false, s.fail("syntax", "invalid \\u escape", i)
				}
				if utf16.IsSurrogate(r) {
					if r >= 0xdc00 {
						return nil, false, s.fail("invalid_utf8", "lone UTF-16 surrogate escape", i)
					}
					lo, ok := rune(0), false
					if i+7 < len(d) && d[i+6] == '\\' && d[i+7] == 'u' {
						lo, ok = hex4(d, i+8)
					}
					if !ok || lo < 0xdc00 || lo > 0xdfff {
						return nil, false, s.fail("invalid_utf8", "lone UTF-16 surrogate escape", i)
					}
					i += 6
				}
				i += 6
			default:
				return nil, false, s.fail("syntax", "invalid escape in string", i)
			}
		case c < 0x20:
			return nil, false, s.fail("control_character", "control character in string", i)
		default:
			r, size := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && size == 1 {
				return nil, false, s.fail("invalid_utf8", "invalid UTF-8 in string", i)
			}
			i += size
		}
	}
}

// number validates RFC 8259 number grammar and rejects values that do not
// fit a float64: a parser that turns 1e999 into +Inf (or fails) disagrees
// with one that keeps the digits.
func (s *scanner) number() error {
	d := s.data
	start := s.pos
	i := s.pos
	if d[i] == '-' {
		i++
	}
	intStart := i
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		s.pos = i
		return s.unexpected("a digit")
	}
	intDigits := i - intStart
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			s.pos = i
			return s.unexpected("a digit after '.'")
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	exp := false
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		exp = true
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			s.pos = i
			return s.unexpected("a digit in the exponent")
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	// Without an exponent, up to 308 integer digits always fit a float64
	// (max ≈ 1.8e308), so only longer or exponent forms need the check.
	if exp || intDigits > 308 {
		if _, err := strconv.ParseFloat(string(d[start:i]), 64); err != nil {
			return s.fail("number_range", "number out of range", start)
		}
	}
	s.pos = i
	return nil
}

func hex4(d []byte, i int) (rune, bool) {
	if i+4 > len(d) {
		return 0, false
	}
	var r rune
	for _, c := range d[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// appendUnescaped decodes the content of a string the scanner has already
// validated and appends it to dst.
func appendUnescaped(dst, src []byte) []byte {
	for len(src) > 0 {
		j := bytes.IndexByte(src, '\\')
		if j < 0 {
			return append(dst, src...)
		}
		dst = append(dst, src[:j]...)
		src = src[j:]
		switch src[1] {
		case 'u':
			r, _ := hex4(src, 2)
			src = src[6:]
			if utf16.IsSurrogate(r) {
				lo, _ := hex4(src, 2)
				r = utf16.DecodeRune(r, lo)
				src = src[6:]
			}
			dst = utf8.AppendRune(dst, r)
			continue
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		default: // '"', '\\', '/'
			dst = append(dst, src[1])
		}
		src = src[2:]
	}
	return dst
}

// stringValue returns the decoded content of raw, which must be a string
// the scanner has validated.
func stringValue(raw []byte) []byte {
	content := raw[1 : len(raw)-1]
	if bytes.IndexByte(content, '\\') < 0 {
		return content
	}
	return appendUnescaped(nil, content)
}

// maxQuoted bounds how much of a client-supplied name an error message may
// repeat.
const maxQuoted = 32

// quoteShort renders at most maxQuoted bytes of b as an ASCII-only quoted
// string, so error messages never carry large or unprintable input.
func quoteShort(b []byte) string {
	cut := false
	if len(b) > maxQuoted {
		n := maxQuoted
		for n > 0 && !utf8.RuneStart(b[n]) {
			n--
		}
		b, cut = b[:n], true
	}
	q := strconv.QuoteToASCII(string(b))
	if cut {
		q += "..."
	}
	return q
}
