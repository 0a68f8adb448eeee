package audit

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Redacted replaces every value mcpguard refuses to record.
const Redacted = "[REDACTED]"

// maxDepth bounds the recursion over argument values; deeper values are
// replaced, so a hostile nesting cannot exhaust the stack.
const maxDepth = 64

// secretRE finds credentials embedded in free text: compact JWS/JWE tokens
// (base64url segments starting with eyJ, the encoding of `{"`), bearer
// credentials, AWS session tokens by their fixed prefixes, SigV4 signatures
// and presigned-URL credential parameters. Group 1 is the part kept in front
// of the redaction marker.
//
// Every alternative matches whole tokens only: it must start and end at a
// token boundary, so "--bearer-token" or a word after "bearer" that starts
// with "-" (a flag) is left alone, and an "eyJ…" match is redacted only
// when it decodes as a compact JWS or JWE (isCompactJOSE): a dotted
// identifier that merely starts with eyJ is not a token.
var secretRE = regexp.MustCompile(
	`(?:^|[^A-Za-z0-9_.-])(eyJ[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*){2,4})(?:$|[^A-Za-z0-9_.=-])` +
		`|(?:^|[^A-Za-z0-9_-])((?i:bearer)[ \t]+[A-Za-z0-9_~+/.][A-Za-z0-9._~+/-]{15,}=*)(?:$|[^A-Za-z0-9._~+/=-])` +
		`|(?:^|[^A-Za-z0-9/+])((?:IQoJb3JpZ2lu|FwoGZXIvYXdz|AQoDYXdz)[A-Za-z0-9/+=]+)` +
		`|(?:^|[^A-Za-z0-9_-])((?i:x-amz-(?:signature|security-token|credential)|signature)=)([^&\s"',]+)`)

// redactor removes secrets from values before they are recorded. It is
// immutable after newRedactor and safe for concurrent use.
type redactor struct {
	keys []redactKey
	max  int
}

type redactKey struct {
	raw   string
	words []string
}

func newRedactor(keys []string, maxBytes int) *redactor {
	r := &redactor{max: maxBytes}
	for _, k := range keys {
		r.keys = append(r.keys, redactKey{raw: k, words: keyWords(k)})
	}
	return r
}

// keyWords splits a key into lowercase words at non-alphanumerics and
// camelCase boundaries: "awsSecretAccessKey", "AWS_SECRET_ACCESS_KEY" and
// "aws-secret-access-key" all give [aws secret access key].
func keyWords(k string) []string {
	var words []string
	rs := []rune(k)
	start := -1
	flush := func(end int) {
		if start >= 0 && end > start {
			words = append(words, strings.ToLower(string(rs[start:end])))
		}
		start = -1
	}
	for i, c := range rs {
		if !unicode.IsLetter(c) && !unicode.IsDigit(c) {
			flush(i)
			continue
		}
		if start < 0 {
			start = i
			continue
		}
		prev := rs[i-1]
		switch {
		case unicode.IsUpper(c) && unicode.IsLower(prev):
			flush(i)
			start = i
		case unicode.IsUpper(c) && unicode.IsUpper(prev) && i+1 < len(rs) && unicode.IsLower(rs[i+1]):
			flush(i)
			start = i
		}
	}
	flush(len(rs))
	return words
}

// sensitiveKey reports whether a key names a secret: it equals a redact
// key case-insensitively, or its words contain the redact key's words in
// order (so "key" covers "api_key" and "KeyName", not "keyboard").
func (r *redactor) sensitiveKey(k string) bool {
	if len(r.keys) == 0 {
		return false
	}
	for _, rk := range r.keys {
		if strings.EqualFold(k, rk.raw) {
			return true
		}
	}
	if isASCII(k) {
		// The usual key: its words are found in place, without the
		// strings keyWords builds.
		var buf [16]wordSpan
		words := asciiKeyWords(k, buf[:0])
		for _, rk := range r.keys {
			if len(rk.words) > 0 && containsRunIn(k, words, rk.words) {
				return true
			}
		}
		return false
	}
	var words []string
	for _, rk := range r.keys {
		if len(rk.words) == 0 {
			continue
		}
		if words == nil {
			words = keyWords(k)
		}
		if containsRun(words, rk.words) {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// wordSpan is one word of an ASCII key, k[start:end].
type wordSpan struct{ start, end int }

func isLowerASCII(c byte) bool { return c >= 'a' && c <= 'z' }
func isUpperASCII(c byte) bool { return c >= 'A' && c <= 'Z' }

// asciiKeyWords appends the words keyWords finds in an ASCII key, as
// spans of k (not lowercased), to words.
func asciiKeyWords(k string, words []wordSpan) []wordSpan {
	start := -1
	flush := func(end int) {
		if start >= 0 && end > start {
			words = append(words, wordSpan{start, end})
		}
		start = -1
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !isLowerASCII(c) && !isUpperASCII(c) && !(c >= '0' && c <= '9') {
			flush(i)
			continue
		}
		if start < 0 {
			start = i
			continue
		}
		prev := k[i-1]
		switch {
		case isUpperASCII(c) && isLowerASCII(prev):
			flush(i)
			start = i
		case isUpperASCII(c) && isUpperASCII(prev) && i+1 < len(k) && isLowerASCII(k[i+1]):
			flush(i)
			start = i
		}
	}
	flush(len(k))
	return words
}

// containsRunIn is containsRun for the words of an ASCII key given as
// spans: run holds lowercase words.
func containsRunIn(k string, words []wordSpan, run []string) bool {
	for i := 0; i+len(run) <= len(words); i++ {
		match := true
		for j := range run {
			if !equalLower(k[words[i+j].start:words[i+j].end], run[j]) {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// equalLower reports whether the ASCII word w, lowercased, is lower.
func equalLower(w, lower string) bool {
	if len(w) != len(lower) {
		return false
	}
	for i := 0; i < len(w); i++ {
		c := w[i]
		if isUpperASCII(c) {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func containsRun(words, run []string) bool {
	for i := 0; i+len(run) <= len(words); i++ {
		match := true
		for j := range run {
			if words[i+j] != run[j] {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// scrub replaces every credential-shaped substring of s. It never fails
// and returns s itself when nothing matched.
func scrub(s string) string {
	if !mayMatchSecretRE(s) {
		return scrubSecretKeys(s)
	}
	var b strings.Builder
	last, changed := 0, false
	// The boundary groups consume one character on each side, so matches
	// are searched from each end position again, one at a time.
	for pos := 0; pos < len(s); {
		m := secretRE.FindStringSubmatchIndex(s[pos:])
		if m == nil {
			break
		}
		for i := range m {
			if m[i] >= 0 {
				m[i] += pos
			}
		}
		start, end, keep := -1, -1, ""
		switch {
		case m[2] >= 0: // JOSE
			if isCompactJOSE(s[m[2]:m[3]]) {
				start, end = m[2], m[3]
			}
		case m[4] >= 0: // bearer credential
			start, end = m[4], m[5]
			word, _, _ := strings.Cut(s[start:end], " ")
			word, _, _ = strings.Cut(word, "\t")
			keep = word + " "
		case m[6] >= 0: // session token
			start, end = m[6], m[7]
		case m[8] >= 0: // signature parameter
			start, end, keep = m[8], m[11], s[m[8]:m[9]]
		}
		if start >= 0 {
			b.WriteString(s[last:start])
			b.WriteString(keep)
			b.WriteString(Redacted)
			last, changed = end, true
			pos = end
		} else {
			// Not a token after all: go on after the candidate's first
			// byte, so a later token in it is still found.
			pos = m[0] + 1
			if m[2] >= 0 {
				pos = m[2] + 1
			}
		}
	}
	if changed {
		b.WriteString(s[last:])
		s = b.String()
	}
	return scrubSecretKeys(s)
}

// isCompactJOSE reports whether t is a compact JWS (three segments) or JWE
// (five) whose first segment is base64url of a JSON object with an "alg"
// member, which is what a JOSE header is. "eyJfoo.bar.baz" is not.
func isCompactJOSE(t string) bool {
	parts := strings.Split(t, ".")
	if len(parts) != 3 && len(parts) != 5 {
		return false
	}
	hdr, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return false
	}
	var h map[string]any
	if json.Unmarshal(hdr, &h) != nil {
		return false
	}
	_, ok := h["alg"]
	return ok
}

// mayMatchSecretRE is a cheap necessary condition for a secretRE match:
// every alternative needs "eyJ", "bearer" in any case, a session token
// prefix, or an "=" right after "signature", "security-token" or
// "credential" in any case (the query parameters). Most recorded strings
// fail it, code full of assignments included, which keeps the regexp off
// the hot path. One pass over s looks for all of them.
func mayMatchSecretRE(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '=':
			if hasSuffixFold(s[:i], "signature") || hasSuffixFold(s[:i], "security-token") || hasSuffixFold(s[:i], "credential") {
				return true
			}
		case 'e':
			if strings.HasPrefix(s[i:], "eyJ") {
				return true
			}
		case 'I':
			if strings.HasPrefix(s[i:], "IQoJ") {
				return true
			}
		case 'F':
			if strings.HasPrefix(s[i:], "FwoG") {
				return true
			}
		case 'A':
			if strings.HasPrefix(s[i:], "AQoD") {
				return true
			}
		case 'b', 'B':
			if i+6 <= len(s) && strings.EqualFold(s[i:i+6], "bearer") {
				return true
			}
		}
	}
	return false
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}

func isB64(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '/' || c == '+'
}

// scrubSecretKeys replaces runs that look like an AWS secret access key:
// exactly 40 characters of [A-Za-z0-9/+] (not part of a longer base64
// run or padding) with upper case, lower case and digits all present, which
// leaves hex digests, words and identifiers alone.
func scrubSecretKeys(s string) string {
	if len(s) < 40 {
		return s
	}
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); {
		if !isB64(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isB64(s[j]) {
			j++
		}
		if j-i == 40 && (j == len(s) || s[j] != '=') && mixedClasses(s[i:j]) {
			b.WriteString(s[last:i])
			b.WriteString(Redacted)
			last = j
		}
		i = j
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func mixedClasses(s string) bool {
	var up, low, dig bool
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z':
			up = true
		case c >= 'a' && c <= 'z':
			low = true
		case c >= '0' && c <= '9':
			dig = true
		}
	}
	return up && low && dig
}

// truncate bounds s to max bytes of its content (cut at UTF-8
// boundaries): the first and the last half are kept around a marker that
// gives the original length and the SHA-256 of the whole (already
// scrubbed) value. Keeping both ends means padding in front of a command
// cannot push its destination out of the record, and the length and
// digest say what was cut, so the record can be checked against the
// request. max <= 0 means no bound.
func truncate(s string, max int) string {
	if max <= 0 || len(s) <= max {
		return s
	}
	head := max - max/2
	for head > 0 && !utf8.RuneStart(s[head]) {
		head--
	}
	tail := len(s) - max/2
	for tail < len(s) && !utf8.RuneStart(s[tail]) {
		tail++
	}
	sum := sha256.Sum256([]byte(s))
	return s[:head] + "...[truncated " + strconv.Itoa(len(s)) + " bytes sha256:" + hex.EncodeToString(sum[:]) + "]..." + s[tail:]
}

// textsChanged scrubs and bounds each string of ss, keeping at most limit
// of them (all when limit is 0), and reports whether the result differs
// from ss as recorded (nil and empty are alike). When it does not, ss
// itself is returned and nothing is allocated.
func (r *redactor) textsChanged(ss []string, limit int) ([]string, bool) {
	if len(ss) == 0 {
		return ss, false
	}
	n := len(ss)
	if limit > 0 && n > limit {
		n = limit
	}
	var out []string
	for i, s := range ss[:n] {
		t := r.text(s)
		if out == nil && t != s {
			out = make([]string, n)
			copy(out, ss[:i])
		}
		if out != nil {
			out[i] = t
		}
	}
	if out == nil {
		if n < len(ss) {
			return ss[:n], true
		}
		return ss, false
	}
	return out, true
}

// text scrubs and bounds one free-text string.
func (r *redactor) text(s string) string { return truncate(scrub(s), r.max) }

// arguments returns args redacted: values under sensitive keys become
// Redacted, credential-shaped strings are scrubbed, strings longer than
// the bound are truncated, and a top-level value whose JSON encoding
// exceeds the bound is recorded as its truncated JSON text. When that
// changes nothing, args itself is returned; otherwise a redacted deep
// copy. The caller's map is never modified.
func (r *redactor) arguments(args map[string]any) map[string]any {
	out, _ := r.redactArguments(args)
	return out
}

// redactArguments is arguments reporting whether the result is a copy
// that differs from args.
func (r *redactor) redactArguments(args map[string]any) (map[string]any, bool) {
	if args == nil {
		return nil, false
	}
	if r.cleanObject(args, 0) && r.fitsBound(args) {
		return args, false
	}
	out := r.object(args, 0)
	if r.max <= 0 {
		return out, true
	}
	for k, v := range out {
		switch v.(type) {
		case map[string]any, []any:
			b, err := json.Marshal(v)
			if err != nil {
				out[k] = Redacted
			} else if len(b) > r.max {
				out[k] = truncate(string(b), r.max)
			}
		}
	}
	return out, true
}

// cleanObject reports whether object(m, depth) would return a map equal
// to m, encoding as m does: no key is scrubbed or sensitive and every
// value is clean. It allocates nothing for the values JSON decoding gives.
func (r *redactor) cleanObject(m map[string]any, depth int) bool {
	for k, v := range m {
		if r.text(k) != k || r.sensitiveKey(k) || !r.cleanValue(v, depth+1) {
			return false
		}
	}
	return true
}

// cleanValue reports whether value(v, depth) would return v, or a value
// that encodes exactly as v does.
func (r *redactor) cleanValue(v any, depth int) bool {
	if depth > maxDepth {
		return false
	}
	switch x := v.(type) {
	case nil, bool, int, int64, int32, uint, uint64, uint32:
		return true
	case float64:
		return !math.IsNaN(x) && !math.IsInf(x, 0)
	case json.Number:
		return x != "" && (x[0] == '-' || x[0] >= '0' && x[0] <= '9') && (isValidNumber(x) || json.Valid([]byte(x)))
	case string:
		return r.text(x) == x
	case map[string]any:
		// value gives a nil map as an empty one, which encodes as {}.
		return x != nil && r.cleanObject(x, depth)
	case []any:
		if x == nil {
			return false
		}
		for _, e := range x {
			if !r.cleanValue(e, depth+1) {
				return false
			}
		}
		return true
	case []string:
		if x == nil {
			return false
		}
		for _, e := range x {
			if r.text(e) != e {
				return false
			}
		}
		return true
	}
	// Any other Go value is normalised through its JSON form.
	return false
}

// fitsBound reports whether no top-level object or array of clean args
// encodes to more than the bound (arguments would truncate it) or fails
// to encode (arguments would redact it).
func (r *redactor) fitsBound(args map[string]any) bool {
	if r.max <= 0 {
		return true
	}
	var bp *[]byte
	defer func() {
		if bp != nil {
			putBody(bp)
		}
	}()
	for _, v := range args {
		switch v.(type) {
		case map[string]any, []any, []string:
			if bp == nil {
				bp = bodyPool.Get().(*[]byte)
			}
			b, err := appendValue((*bp)[:0], v, 0)
			*bp = b
			if err != nil || len(b) > r.max {
				return false
			}
		}
	}
	return true
}

func (r *redactor) object(m map[string]any, depth int) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		key := r.text(k)
		for n := 2; ; n++ {
			if _, dup := out[key]; !dup {
				break
			}
			key = fmt.Sprintf("%s#%d", r.text(k), n)
		}
		if r.sensitiveKey(k) {
			out[key] = Redacted
			continue
		}
		out[key] = r.value(v, depth+1)
	}
	return out
}

func (r *redactor) value(v any, depth int) any {
	if depth > maxDepth {
		return "[TOO DEEP]"
	}
	switch x := v.(type) {
	case nil, bool, int, int64, int32, uint, uint64, uint32:
		return x
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return strconv.FormatFloat(x, 'g', -1, 64)
		}
		return x
	case json.Number:
		if x == "" || !(x[0] == '-' || x[0] >= '0' && x[0] <= '9') || !json.Valid([]byte(x)) {
			return r.text(string(x))
		}
		return x
	case string:
		return r.text(x)
	case map[string]any:
		return r.object(x, depth)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = r.value(e, depth+1)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = r.text(e)
		}
		return out
	default:
		// Any other Go value is normalised through its JSON form so the
		// same rules apply to what it would have encoded as.
		b, err := json.Marshal(x)
		if err != nil {
			return Redacted
		}
		var g any
		if err := json.Unmarshal(b, &g); err != nil {
			return Redacted
		}
		return r.value(g, depth)
	}
}
