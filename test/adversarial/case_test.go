package adversarial

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/mcpguard/mcpguard/test/fakeidp"
	"github.com/mcpguard/mcpguard/test/stack"
)

// attackCase is one file of cases/: a request and the outcome it must have.
type attackCase struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Category groups cases: json, http, token, policy.
	Category string `yaml:"category"`
	Method   string `yaml:"method"` // default POST
	Path     string `yaml:"path"`   // default /mcp
	// Headers are sent in order, repeats allowed. Values may use $TOKEN
	// (the recipe's token), $SESSION (an initialized Mcp-Session-Id of the
	// token's user) and $LONG:<n> (n bytes of "a").
	Headers [][2]string `yaml:"headers"`
	// NoDefaultHeaders leaves out content-type: application/json and the
	// MCP accept header that are otherwise added when the case does not
	// set them.
	NoDefaultHeaders bool `yaml:"no_default_headers"`
	// Body is sent verbatim; with HexEscapes, \xHH sequences become bytes
	// (for NUL, invalid UTF-8, a BOM).
	Body       string `yaml:"body"`
	HexEscapes bool   `yaml:"hex_escapes"`
	// BodyGenerator computes bodies too big to commit: deep_nesting:N,
	// huge_string:N, batch:N.
	BodyGenerator string `yaml:"body_generator"`
	// BodyEncoding compresses Body before sending: gzip.
	BodyEncoding string `yaml:"body_encoding"`
	// RawRequest, when set, is written to the socket as is (after
	// placeholder substitution, with \n turned into \r\n), for framing
	// tricks no HTTP client would produce.
	RawRequest string `yaml:"raw_request"`
	// Session asks for an initialized MCP session of the token's user
	// before the case runs; its id replaces $SESSION and is sent as
	// mcp-session-id when no header names it.
	Session bool        `yaml:"session"`
	Token   tokenRecipe `yaml:"token"`
	Expect  expectation `yaml:"expect"`

	file string
}

// tokenRecipe says how to mint the bearer token. The zero value is a valid
// token of alice.
type tokenRecipe struct {
	User      string   `yaml:"user"` // alice, bob, dana or eve
	Mutations []string `yaml:"mutations"`
	// Raw is used as the token verbatim.
	Raw string `yaml:"raw"`
}

// expectation is what the gateway must do with the case.
type expectation struct {
	Status      int  `yaml:"status"`
	JSONRPCCode int  `yaml:"jsonrpc_code"`
	Forwarded   bool `yaml:"forwarded"`
	// Reason explains the expected outcome for readers.
	Reason string `yaml:"reason"`
	// AbsentUpstream lists header values the client sent that must not
	// reach the upstream.
	AbsentUpstream []string `yaml:"absent_upstream"`
	// Bug marks a case that shows a known product bug: it is reported
	// with t.Skip until the product is fixed.
	Bug string `yaml:"bug"`
	// Audit, when set, is what the request's audit record must say.
	Audit *auditExpect `yaml:"audit"`
}

// auditExpect checks the audit record of a case (found by its
// X-Request-Id, adv-<name>).
type auditExpect struct {
	Type        string `yaml:"type"`         // record type, e.g. authz_denied
	Outcome     string `yaml:"outcome"`      // success, denied, failure, error
	ErrorKind   string `yaml:"error_kind"`   // error.kind
	ErrorReason string `yaml:"error_reason"` // error.reason
	// Contains and Absent are substrings that must and must not appear in
	// the record's JSON.
	Contains []string `yaml:"contains"`
	Absent   []string `yaml:"absent"`
}

func loadCases(t testing.TB) []*attackCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("cases", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	var out []*attackCase
	seen := map[string]string{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c attackCase
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		c.file = f
		if c.Name == "" || c.Expect.Status == 0 || c.Category == "" {
			t.Fatalf("%s: name, category and expect.status are required", f)
		}
		if want := c.Name + ".yaml"; filepath.Base(f) != want {
			t.Fatalf("%s: file must be named %s", f, want)
		}
		if prev, dup := seen[c.Name]; dup {
			t.Fatalf("%s: name %q already used by %s", f, c.Name, prev)
		}
		seen[c.Name] = f
		if c.Method == "" {
			c.Method = "POST"
		}
		if c.Path == "" {
			c.Path = "/mcp"
		}
		out = append(out, &c)
	}
	return out
}

// body returns the exact bytes the case sends.
func (c *attackCase) body() ([]byte, error) {
	var b []byte
	switch {
	case c.BodyGenerator != "":
		var err error
		if b, err = generate(c.BodyGenerator); err != nil {
			return nil, err
		}
	case c.HexEscapes:
		var err error
		if b, err = unescapeHex(c.Body); err != nil {
			return nil, err
		}
	default:
		b = []byte(c.Body)
	}
	switch c.BodyEncoding {
	case "":
	case "gzip":
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(b)
		zw.Close()
		b = buf.Bytes()
	default:
		return nil, fmt.Errorf("unknown body_encoding %q", c.BodyEncoding)
	}
	return b, nil
}

// isJSON reports whether the case's body is meant as a JSON-RPC body (for
// the parser differential).
func (c *attackCase) isJSON() bool {
	return c.RawRequest == "" && c.BodyEncoding == "" && (c.Body != "" || c.BodyGenerator != "")
}

// unescapeHex turns \xHH into the byte HH and leaves everything else,
// JSON's own escapes included, untouched.
func unescapeHex(s string) ([]byte, error) {
	var out []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && s[i+1] == 'x' {
			if i+4 > len(s) {
				return nil, fmt.Errorf("short \\x escape at %d", i)
			}
			v, err := hex.DecodeString(s[i+2 : i+4])
			if err != nil {
				return nil, fmt.Errorf("bad \\x escape at %d: %w", i, err)
			}
			out = append(out, v[0])
			i += 3
			continue
		}
		out = append(out, s[i])
	}
	return out, nil
}

// generate builds the huge bodies: deep_nesting:N puts N nested arrays in
// a tool argument, huge_string:N a string of N bytes, batch:N a batch of N
// pings.
func generate(spec string) ([]byte, error) {
	kind, arg, _ := strings.Cut(spec, ":")
	n, err := strconv.Atoi(arg)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("body_generator %q: bad count", spec)
	}
	var b bytes.Buffer
	switch kind {
	case "deep_nesting":
		b.WriteString(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"aws___call_aws","arguments":{"cli_command":"aws s3 ls","x":`)
		b.WriteString(strings.Repeat("[", n))
		b.WriteString(strings.Repeat("]", n))
		b.WriteString(`}}}`)
	case "huge_string":
		b.WriteString(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"aws___call_aws","arguments":{"cli_command":"aws s3 ls","x":"`)
		b.WriteString(strings.Repeat("A", n))
		b.WriteString(`"}}}`)
	case "batch":
		b.WriteByte('[')
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"jsonrpc":"2.0","id":%d,"method":"ping"}`, i+1)
		}
		b.WriteByte(']')
	default:
		return nil, fmt.Errorf("unknown body_generator %q", spec)
	}
	return b.Bytes(), nil
}

// minter mints the tokens of recipes against the stack's IdP. attacker is
// the base URL of a server an attacker controls (for jku and x5u).
type minter struct {
	s        *stack.Stack
	attacker string
}

func user(name string) (stack.User, error) {
	switch name {
	case "", "alice":
		return stack.Alice, nil
	case "bob":
		return stack.Bob, nil
	case "dana":
		return stack.Dana, nil
	case "eve":
		return stack.Eve, nil
	}
	return stack.User{}, fmt.Errorf("unknown user %q", name)
}

// mint returns the token for r; omit is true when no Authorization header
// must be sent.
func (m *minter) mint(r tokenRecipe) (tok string, omit bool, err error) {
	if r.Raw != "" {
		return r.Raw, false, nil
	}
	u, err := user(r.User)
	if err != nil {
		return "", false, err
	}
	claims := m.s.Claims(u)
	now := time.Now().Unix()
	var opts []fakeidp.MintOption
	special := ""
	for _, mu := range r.Mutations {
		name, val, _ := strings.Cut(mu, "=")
		switch name {
		case "omitted":
			return "", true, nil
		case "expired":
			claims["iat"], claims["nbf"], claims["exp"] = now-7200, now-7200, now-3600
		case "expired_by_1s":
			claims["iat"], claims["nbf"], claims["exp"] = now-3600, now-3600, now-1
		case "expired_beyond_skew":
			claims["iat"], claims["nbf"], claims["exp"] = now-3600, now-3600, now-31
		case "nbf_future":
			claims["nbf"] = now + 3600
		case "iat_future":
			claims["iat"] = now + 3600
		case "no_exp":
			delete(claims, "exp")
		case "iss":
			claims["iss"] = val
		case "aud":
			claims["aud"] = val
		case "sub":
			claims["sub"] = val
		case "kid":
			opts = append(opts, fakeidp.WithKid(val))
		case "no_kid":
			opts = append(opts, fakeidp.WithoutKid())
		case "foreign_key":
			opts = append(opts, fakeidp.WithForeignKey())
		case "jku":
			opts = append(opts, fakeidp.WithHeader("jku", m.attacker+"/jwks.json"))
		case "x5u":
			opts = append(opts, fakeidp.WithHeader("x5u", m.attacker+"/cert.pem"))
		case "jwk":
			opts = append(opts, fakeidp.WithEmbeddedJWK())
		case "crit":
			opts = append(opts, fakeidp.WithHeader("crit", []string{"exp"}))
		case "groups_number":
			setGroups(claims, 42)
		case "groups_object":
			setGroups(claims, map[string]any{"s3-readers": true})
		case "groups_10000":
			gs := make([]any, 10000)
			for i := range gs {
				gs[i] = "s3-readers"
			}
			setGroups(claims, gs)
		case "groups_1001":
			gs := make([]any, 1001)
			for i := range gs {
				gs[i] = fmt.Sprintf("g%d", i)
			}
			gs[1000] = "s3-readers"
			setGroups(claims, gs)
		case "groups_mixed":
			setGroups(claims, []any{"s3-readers", 7})
		case "groups_trailing_space":
			setGroups(claims, []any{"s3-readers "})
		case "groups_overage":
			delete(claims, "https://aws.amazon.com/tags")
			claims["_claim_names"] = map[string]any{"https://aws.amazon.com/tags/principal_tags/Groups": "src1"}
			claims["_claim_sources"] = map[string]any{"src1": map[string]any{"endpoint": "https://graph.example/getMemberObjects"}}
		case "sub_long":
			claims["sub"] = strings.Repeat("a", 1025)
		case "email_unverified":
			claims["email_verified"] = false
		case "alg_none", "hs256_pubkey", "tampered", "malformed":
			special = name
		default:
			return "", false, fmt.Errorf("unknown token mutation %q", mu)
		}
	}
	switch special {
	case "alg_none":
		tok, err = m.s.IdP.MintNone(claims)
	case "hs256_pubkey":
		tok, err = m.s.IdP.MintHS256WithPublicKey(claims)
	case "malformed":
		tok = "not.a.jwt"
	case "tampered":
		tok, err = m.s.IdP.Mint(claims, opts...)
		if err == nil {
			parts := strings.Split(tok, ".")
			payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
			payload = bytes.Replace(payload, []byte(`"sub":"`+u.Name+`"`), []byte(`"sub":"admin"`), 1)
			tok = parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2]
		}
	default:
		tok, err = m.s.IdP.Mint(claims, opts...)
	}
	return tok, false, err
}

// setGroups replaces the Groups principal tag, the claim that selects the
// role and the Cedar groups.
func setGroups(claims map[string]any, v any) {
	tags := claims["https://aws.amazon.com/tags"].(map[string]any)
	pt := tags["principal_tags"].(map[string]any)
	pt["Groups"] = v
}

// TestCorpusFiles checks the corpus itself: every file decodes, names are
// unique, generators and escapes work, and the coverage minimum
// holds.
func TestCorpusFiles(t *testing.T) {
	cases := loadCases(t)
	if len(cases) < 60 {
		t.Errorf("corpus has %d cases, want at least 60", len(cases))
	}
	per := map[string]int{}
	for _, c := range cases {
		per[c.Category]++
		if _, err := c.body(); err != nil {
			t.Errorf("%s: %v", c.Name, err)
		}
		if _, err := user(c.Token.User); err != nil {
			t.Errorf("%s: %v", c.Name, err)
		}
	}
	for _, cat := range []string{"json", "http", "token", "policy"} {
		if per[cat] == 0 {
			t.Errorf("no %s cases", cat)
		}
	}
	t.Logf("%d cases: %v", len(cases), per)
}

func TestUnescapeHex(t *testing.T) {
	tests := []struct{ in, want string }{
		{`a\x00b`, "a\x00b"},
		{`\xef\xbb\xbf{}`, "\xef\xbb\xbf{}"},
		{`"tools\u002fcall"`, `"tools\u002fcall"`},
		{`\xff`, "\xff"},
	}
	for _, tt := range tests {
		got, err := unescapeHex(tt.in)
		if err != nil || string(got) != tt.want {
			t.Errorf("unescapeHex(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := unescapeHex(`\xZZ`); err == nil {
		t.Error("bad escape accepted")
	}
}
