package envoysim

import (
	"net/http"
	"slices"
	"strings"
)

// Header is one header line. Requests and responses carry headers as an
// ordered list, not a map, because Envoy's header map keeps insertion order and
// repeated keys, and the order is what the external processor sees.
type Header struct {
	Key   string
	Value string
}

// HeadersFrom converts a net/http header map to the ordered list the simulator
// uses, with keys sorted so that runs are reproducible.
func HeadersFrom(h http.Header) []Header {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []Header
	for _, k := range keys {
		for _, v := range h[k] {
			out = append(out, Header{Key: k, Value: v})
		}
	}
	return out
}

// Get returns the first value of key (case-insensitive) in hs, so tests can
// read a header from a Request or Response without building a map.
func Get(hs []Header, key string) (string, bool) {
	for _, h := range hs {
		if strings.EqualFold(h.Key, key) {
			return h.Value, true
		}
	}
	return "", false
}

// Values returns every value of key (case-insensitive) in hs, in order.
func Values(hs []Header, key string) []string {
	var out []string
	for _, h := range hs {
		if strings.EqualFold(h.Key, key) {
			out = append(out, h.Value)
		}
	}
	return out
}

// headerMap is Envoy's header map as far as ext_proc can observe it: lower-case
// keys, pseudo-headers kept in front of regular headers, insertion order and
// repeated keys preserved (source/common/http/header_map_impl.cc).
type headerMap struct {
	entries []Header
}

func (m *headerMap) get(key string) []string {
	var out []string
	for _, e := range m.entries {
		if e.Key == key {
			out = append(out, e.Value)
		}
	}
	return out
}

func (m *headerMap) first(key string) (string, bool) {
	for _, e := range m.entries {
		if e.Key == key {
			return e.Value, true
		}
	}
	return "", false
}

func (m *headerMap) has(key string) bool {
	_, ok := m.first(key)
	return ok
}

func (m *headerMap) remove(key string) {
	out := m.entries[:0]
	for _, e := range m.entries {
		if e.Key != key {
			out = append(out, e)
		}
	}
	m.entries = out
}

// add appends an entry (Envoy addCopy); pseudo-headers go after the existing
// pseudo-headers so that they stay in front.
func (m *headerMap) add(key, value string) {
	e := Header{Key: key, Value: value}
	if strings.HasPrefix(key, ":") {
		i := 0
		for i < len(m.entries) && strings.HasPrefix(m.entries[i].Key, ":") {
			i++
		}
		m.entries = append(m.entries, Header{})
		copy(m.entries[i+1:], m.entries[i:])
		m.entries[i] = e
		return
	}
	m.entries = append(m.entries, e)
}

// set replaces every value of key with one value. Envoy's setCopy removes all
// existing entries and adds a new one (runtime guard
// envoy.reloadable_features.http_set_copy_replace_all_headers, default on).
func (m *headerMap) set(key, value string) {
	m.remove(key)
	m.add(key, value)
}

func (m *headerMap) byteSize() int {
	n := 0
	for _, e := range m.entries {
		n += len(e.Key) + len(e.Value)
	}
	return n
}

// regular returns the entries that are not pseudo-headers.
func (m *headerMap) regular() []Header {
	var out []Header
	for _, e := range m.entries {
		if !strings.HasPrefix(e.Key, ":") {
			out = append(out, e)
		}
	}
	return out
}

// isTchar reports whether c may appear in an HTTP token (RFC 9110 5.6.2).
func isTchar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// headerNameIsValid follows Envoy's HeaderUtility::headerNameIsValid: a
// pseudo-header uses HTTP/2 rules (lower-case token after ':'), any other
// header HTTP/1 token rules (upper case allowed).
func headerNameIsValid(name string) bool {
	if name == "" {
		return false
	}
	if name[0] == ':' {
		rest := name[1:]
		if rest == "" {
			return false
		}
		for i := 0; i < len(rest); i++ {
			c := rest[i]
			if !isTchar(c) || (c >= 'A' && c <= 'Z') {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(name); i++ {
		if !isTchar(name[i]) {
			return false
		}
	}
	return true
}

// headerValueIsValid follows Envoy's HeaderUtility::headerValueIsValid
// (nghttp2_check_header_value): HTAB, visible ASCII, SP and obs-text only.
func headerValueIsValid(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\t' || (c >= 0x20 && c != 0x7f) {
			continue
		}
		return false
	}
	return true
}
