package mcp

import "encoding/json"

// buildValue decodes data, one JSON value the scanner has accepted (with
// optional surrounding whitespace), into the values encoding/json's
// Decoder yields with UseNumber: map[string]any, []any, string,
// json.Number with the exact text, bool and nil. Because the scanner has
// already refused everything two parsers could read differently
// (duplicate keys, invalid UTF-8, lone surrogates, out-of-range numbers,
// trailing data), decoding needs no checks of its own; FuzzDecodeValue
// holds it to encoding/json on every accepted input. It must never be
// given bytes the scanner has not accepted.
func buildValue(data []byte) any {
	b := builder{data: data}
	return b.value()
}

type builder struct {
	data []byte
	pos  int
}

func (b *builder) skipWS() {
	for b.pos < len(b.data) {
		switch b.data[b.pos] {
		case ' ', '\t', '\n', '\r':
			b.pos++
		default:
			return
		}
	}
}

func (b *builder) value() any {
	b.skipWS()
	switch c := b.data[b.pos]; c {
	case '{':
		return b.object()
	case '[':
		return b.array()
	case '"':
		return b.str()
	case 't':
		b.pos += len("true")
		return true
	case 'f':
		b.pos += len("false")
		return false
	case 'n':
		b.pos += len("null")
		return nil
	}
	return b.number()
}

func (b *builder) object() map[string]any {
	m := map[string]any{}
	b.pos++ // '{'
	b.skipWS()
	if b.data[b.pos] == '}' {
		b.pos++
		return m
	}
	for {
		b.skipWS()
		k := b.str()
		b.skipWS()
		b.pos++ // ':'
		m[k] = b.value()
		b.skipWS()
		c := b.data[b.pos]
		b.pos++ // ',' or '}'
		if c == '}' {
			return m
		}
	}
}

func (b *builder) array() []any {
	a := []any{}
	b.pos++ // '['
	b.skipWS()
	if b.data[b.pos] == ']' {
		b.pos++
		return a
	}
	for {
		a = append(a, b.value())
		b.skipWS()
		c := b.data[b.pos]
		b.pos++ // ',' or ']'
		if c == ']' {
			return a
		}
	}
}

// str decodes the string at b.pos. An escape is two bytes or, for \u, six;
// the bytes after a backslash are never a quote that ends the string, so
// stepping over the backslash and its next byte finds the end.
func (b *builder) str() string {
	d := b.data
	start := b.pos + 1
	i := start
	escaped := false
	for d[i] != '"' {
		if d[i] == '\\' {
			escaped = true
			i++
		}
		i++
	}
	b.pos = i + 1
	if !escaped {
		return string(d[start:i])
	}
	return string(appendUnescaped(make([]byte, 0, i-start), d[start:i]))
}

func (b *builder) number() json.Number {
	d := b.data
	start := b.pos
	i := start
	for i < len(d) && numberByte(d[i]) {
		i++
	}
	b.pos = i
	return json.Number(d[start:i])
}

// numberByte reports whether c may appear in a JSON number.
func numberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}
