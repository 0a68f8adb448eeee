package sigv4

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// The signing algorithm's name and the fixed tail of a credential scope.
const (
	algorithm   = "AWS4-HMAC-SHA256"
	scopeSuffix = "aws4_request"
	amzDateLen  = len("20060102T150405Z")
)

// state is the scratch one signature needs: the canonical request and the
// string to sign are written into buf, and the SHA-256 in h is reset and
// reused for the hash of the canonical request and for every HMAC. States
// are pooled, so a signature allocates only the strings it returns.
type state struct {
	buf  []byte
	mac  []byte
	h    hash.Hash
	hdrs [8]canonHeader
	// date and payload hold x-amz-date and the payload hash while the
	// canonical request that points at them is written.
	date    [amzDateLen]byte
	payload [2 * sha256.Size]byte
	// Scratch for the hashes: anything handed to h escapes, so it lives
	// here rather than on the stack.
	pad             [64]byte
	sum, inner, key [sha256.Size]byte
}

// canonHeader is one signed header: its lower-case name and its values in
// the order they were given (first, then rest). It holds no pointer into
// itself, so sorting moves it safely.
type canonHeader struct {
	name, first string
	rest        []string
}

var statePool = sync.Pool{New: func() any {
	return &state{buf: make([]byte, 0, 1024), mac: make([]byte, 0, 128), h: sha256.New()}
}}

// trace receives the canonical request and the string to sign; only the
// tests that compare them with the AWS suite and the SDK pass one.
type trace struct {
	creq, sts string
}

// signature is what signDirect computes. The three strings share one
// allocation.
type signature struct {
	authorization, date, payloadHash string
}

// ignoredHeader reports a header name the SDK never signs (compared without
// case). Sign signs no client header, so this matters only for the extra
// headers of the AWS suite and the differential tests.
func ignoredHeader(name string) bool {
	for _, n := range [...]string{"authorization", "user-agent", "x-amzn-trace-id", "expect", "transfer-encoding", "content-length"} {
		if strings.EqualFold(name, n) {
			return true
		}
	}
	return false
}

// signDirect computes the SigV4 signature of r at t from the request's own
// fields: the canonical request is written straight into a pooled buffer in
// the order SigV4 sorts its headers, with no http.Request, url.URL or header
// map in between. extra holds additional headers to sign, in order; Sign
// passes none. r must have passed validate.
func (s *Signer) signDirect(r Request, t time.Time, extra []Header, tr *trace) (signature, error) {
	st := statePool.Get().(*state)
	defer statePool.Put(st)
	if cap(st.buf) > 64<<10 {
		st.buf = make([]byte, 0, 1024)
	}
	defer clear(st.hdrs[:])
	t = t.UTC()
	amzDate := &st.date
	t.AppendFormat(amzDate[:0], "20060102T150405Z")

	payload := &st.payload
	if len(r.Body) > 0 {
		sum := sha256.Sum256(r.Body)
		hex.Encode(payload[:], sum[:])
	} else {
		copy(payload[:], EmptyPayloadHash)
	}

	host := signingHost(r.Host)
	hdrs := st.collect(r, host, amzDate[:], payload[:], s.omitPayloadHash, extra)

	rawPath, rawQuery, _ := strings.Cut(r.Path, "?")
	b := st.buf[:0]
	b = append(b, r.Method...)
	b = append(b, '\n')
	b = appendEscapedPath(b, canonicalPath(rawPath))
	b = append(b, '\n')
	if rawQuery != "" {
		var err error
		if b, err = appendCanonicalQuery(b, rawQuery); err != nil {
			st.buf = b
			return signature{}, err
		}
	}
	b = append(b, '\n')
	for _, h := range hdrs {
		b = append(b, h.name...)
		b = append(b, ':')
		if h.name == "host" {
			b = appendCollapsed(b, h.first)
		} else {
			b = appendHeaderValue(b, h.first)
		}
		for _, v := range h.rest {
			b = append(b, ',')
			b = appendHeaderValue(b, v)
		}
		b = append(b, '\n')
	}
	b = append(b, '\n')
	signedStart := len(b)
	for i, h := range hdrs {
		if i > 0 {
			b = append(b, ';')
		}
		b = append(b, h.name...)
	}
	signedEnd := len(b)
	b = append(b, '\n')
	b = append(b, payload[:]...)
	creqEnd := len(b)

	st.h.Reset()
	st.h.Write(b[:creqEnd])
	creqSum := st.h.Sum(st.sum[:0])

	// The string to sign follows the canonical request in the same
	// buffer; the credential scope inside it is reused for the header.
	stsStart := len(b)
	b = append(b, algorithm...)
	b = append(b, '\n')
	b = append(b, amzDate[:]...)
	b = append(b, '\n')
	scopeStart := len(b)
	b = append(b, amzDate[:8]...)
	b = append(b, '/')
	b = append(b, r.Region...)
	b = append(b, '/')
	b = append(b, r.Service...)
	b = append(b, '/')
	b = append(b, scopeSuffix...)
	scopeEnd := len(b)
	b = append(b, '\n')
	b = hex.AppendEncode(b, creqSum)
	stsEnd := len(b)

	s.keys.get(st, r.Credentials.AccessKeyID, r.Credentials.SecretAccessKey, amzDate[:8], r.Region, r.Service)
	st.hmac(&st.sum, st.key[:], b[stsStart:stsEnd])
	clear(st.key[:])
	sig := &st.sum

	if tr != nil {
		tr.creq = string(b[:creqEnd])
		tr.sts = string(b[stsStart:stsEnd])
	}

	// One allocation for the three returned values: the string aliases
	// out, which nothing writes to after this.
	n := len(algorithm) + len(" Credential=") + len(r.Credentials.AccessKeyID) + 1 + (scopeEnd - scopeStart) +
		len(", SignedHeaders=") + (signedEnd - signedStart) + len(", Signature=") + 2*sha256.Size
	out := make([]byte, 0, n+amzDateLen+len(payload))
	out = append(out, algorithm...)
	out = append(out, " Credential="...)
	out = append(out, r.Credentials.AccessKeyID...)
	out = append(out, '/')
	out = append(out, b[scopeStart:scopeEnd]...)
	out = append(out, ", SignedHeaders="...)
	out = append(out, b[signedStart:signedEnd]...)
	out = append(out, ", Signature="...)
	out = hex.AppendEncode(out, sig[:])
	authzEnd := len(out)
	out = append(out, amzDate[:]...)
	out = append(out, payload[:]...)
	all := unsafe.String(unsafe.SliceData(out), len(out)) //nolint:gosec // out is never written again
	st.buf = b[:0]
	return signature{
		authorization: all[:authzEnd],
		date:          all[authzEnd : authzEnd+amzDateLen],
		payloadHash:   all[authzEnd+amzDateLen:],
	}, nil
}

// collect lists the signed headers sorted by name. Without extra headers
// the names are fixed and already in order (content-type, host,
// x-amz-content-sha256, x-amz-date, x-amz-security-token), so nothing is
// sorted. The values of x-amz-date and x-amz-content-sha256 point into the
// state's own arrays (never the stack), which outlive the canonical request.
func (st *state) collect(r Request, host string, amzDate, payload []byte, omitPayload bool, extra []Header) []canonHeader {
	hdrs := st.hdrs[:0]
	add := func(name, value string) {
		hdrs = append(hdrs, canonHeader{name: name, first: value})
	}
	if r.ContentType != "" {
		add("content-type", r.ContentType)
	}
	add("host", host)
	if !omitPayload {
		add(HeaderContentSHA256, unsafe.String(&payload[0], len(payload)))
	}
	add(HeaderDate, unsafe.String(&amzDate[0], len(amzDate)))
	if r.Credentials.SessionToken != "" {
		add(HeaderSecurityToken, r.Credentials.SessionToken)
	}
	if len(extra) == 0 {
		return hdrs
	}
	// The general case, for the suite and the differential tests only:
	// the SDK overwrites x-amz-date, and x-amz-security-token and
	// x-amz-content-sha256 when it sets them; any other name collects its
	// values in order after the ones above.
outer:
	for _, e := range extra {
		if ignoredHeader(e.Name) {
			continue
		}
		name := strings.ToLower(e.Name)
		for i := range hdrs {
			if hdrs[i].name != name {
				continue
			}
			switch {
			case name == HeaderDate,
				name == HeaderSecurityToken && r.Credentials.SessionToken != "",
				name == HeaderContentSHA256 && !omitPayload,
				name == "host":
				continue outer
			}
			hdrs[i].rest = append(hdrs[i].rest, e.Value)
			continue outer
		}
		hdrs = append(hdrs, canonHeader{name: name, first: e.Value})
	}
	slices.SortFunc(hdrs, func(a, b canonHeader) int { return strings.Compare(a.name, b.name) })
	return hdrs
}

// signingHost is the host as signed: a default https port is dropped, as
// the SDK does for the https URL it signs.
func signingHost(host string) string {
	colon := strings.IndexByte(host, ':')
	if colon < 0 {
		return host
	}
	var port string
	switch {
	case strings.Contains(host, "]:"):
		port = host[strings.Index(host, "]:")+2:]
	case strings.Contains(host, "]"):
		return host
	default:
		port = host[colon+1:]
	}
	if port != "443" {
		return host
	}
	if i := strings.IndexByte(host, ']'); i >= 0 {
		return strings.TrimPrefix(host[:i], "[")
	}
	return host[:colon]
}

// unreserved marks the bytes SigV4 never percent-encodes.
var unreserved = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
	}
	return t
}()

const upperHex = "0123456789ABCDEF"

// appendEscapedPath percent-encodes every byte of p but unreserved ones and
// '/', once: p is already percent-encoded, so a "%" becomes "%25", the
// double encoding every service but S3 expects.
func appendEscapedPath(b []byte, p string) []byte {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if unreserved[c] || c == '/' {
			b = append(b, c)
		} else {
			b = append(b, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	return b
}

// appendQueryComponent percent-encodes s as a canonical query name or
// value: everything but unreserved bytes, a space as %20.
func appendQueryComponent(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved[c] {
			b = append(b, c)
		} else {
			b = append(b, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	return b
}

// appendCanonicalQuery writes the canonical query of a raw query: decoded
// as a form (a "+" is a space), each name and value encoded again, and the
// pairs sorted by encoded name, then encoded value. A query that does not
// parse is refused rather than silently losing a pair.
func appendCanonicalQuery(b []byte, rawQuery string) ([]byte, error) {
	values, err := url.ParseQuery(rawQuery)
	if err != nil {
		return b, errQuery(err)
	}
	type pair struct{ k, v string }
	pairs := make([]pair, 0, len(values))
	var scratch []byte
	for k, vs := range values {
		scratch = appendQueryComponent(scratch[:0], k)
		ek := string(scratch)
		for _, v := range vs {
			scratch = appendQueryComponent(scratch[:0], v)
			pairs = append(pairs, pair{ek, string(scratch)})
		}
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	for i, p := range pairs {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, p.k...)
		b = append(b, '=')
		b = append(b, p.v...)
	}
	return b, nil
}

// appendCollapsed writes v without leading and trailing spaces and with
// each run of inner spaces reduced to one.
func appendCollapsed(b []byte, v string) []byte {
	v = strings.Trim(v, " ")
	if !strings.Contains(v, "  ") {
		// No run to collapse, as in nearly every value (a session
		// token is a kilobyte): one copy instead of a byte at a time.
		return append(b, v...)
	}
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b = append(b, c)
	}
	return b
}

// appendHeaderValue writes a canonical header value: spaces collapsed as
// in appendCollapsed, then any remaining leading or trailing white space
// (tabs, Unicode spaces) trimmed, as the SDK does.
func appendHeaderValue(b []byte, v string) []byte {
	start := len(b)
	b = appendCollapsed(b, v)
	trimmed := bytes.TrimSpace(b[start:])
	n := copy(b[start:], trimmed)
	return b[:start+n]
}

// hmac computes HMAC-SHA256(key, msg) into dst with the state's reusable
// hash, without the allocations of crypto/hmac.New.
func (st *state) hmac(dst *[sha256.Size]byte, key, msg []byte) {
	const block = 64
	var k [block]byte
	if len(key) > block {
		st.h.Reset()
		st.h.Write(key)
		st.h.Sum(st.inner[:0])
		copy(k[:], st.inner[:])
	} else {
		copy(k[:], key)
	}
	// From here key is no longer read, so dst may alias it.
	pad := &st.pad
	for i := range pad {
		pad[i] = k[i] ^ 0x36
	}
	st.h.Reset()
	st.h.Write(pad[:])
	st.h.Write(msg)
	st.h.Sum(st.inner[:0])
	for i := range pad {
		pad[i] = k[i] ^ 0x5c
	}
	st.h.Reset()
	st.h.Write(pad[:])
	st.h.Write(st.inner[:])
	// Sum appends to dst[:0]; dst may be st.sum or a stack array that
	// the compiler then keeps on the heap, so it goes through inner.
	st.h.Sum(st.inner[:0])
	*dst = st.inner
	clear(k[:])
	clear(pad[:])
}

// hmacString is hmac with a string message, copied into the state's
// scratch.
func (st *state) hmacString(dst *[sha256.Size]byte, key []byte, msg string) {
	st.mac = append(st.mac[:0], msg...)
	st.hmac(dst, key, st.mac)
}

// keyCache remembers derived signing keys. A key depends on the secret, the
// day, the region and the service, so one caller's key serves every request
// of that day; deriving it is four HMACs. Entries are found by access key
// ID, day, region and service and used only when the stored secret is the
// caller's, so a reused access key ID with another secret derives afresh.
// The cache is bounded: when full it is emptied and refills.
type keyCache struct {
	mu sync.RWMutex
	m  map[keyID]derivedKey
}

// maxKeys bounds keyCache: about 100 bytes per entry beyond the strings the
// credential cache already holds.
const maxKeys = 1 << 14

type keyID struct {
	accessKeyID, region, service string
	day                          [8]byte
}

type derivedKey struct {
	secret string
	key    [sha256.Size]byte
}

// get puts the signing key for the caller on day (YYYYMMDD) in st.key.
func (c *keyCache) get(st *state, accessKeyID, secret string, day []byte, region, service string) {
	id := keyID{accessKeyID: accessKeyID, region: region, service: service}
	copy(id.day[:], day)
	c.mu.RLock()
	e, ok := c.m[id]
	c.mu.RUnlock()
	if ok && e.secret == secret {
		st.key = e.key
		return
	}
	k := &st.key
	st.mac = append(append(st.mac[:0], "AWS4"...), secret...)
	seed := st.mac
	st.hmac(k, seed, day)
	clear(seed)
	st.hmacString(k, k[:], region)
	st.hmacString(k, k[:], service)
	st.hmacString(k, k[:], scopeSuffix)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxKeys {
		c.m = make(map[keyID]derivedKey)
	}
	c.m[id] = derivedKey{secret: secret, key: *k}
	c.mu.Unlock()
}
