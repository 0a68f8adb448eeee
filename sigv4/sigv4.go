package sigv4

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/mcpguard/mcpguard"
)

// Names of the headers this package sets, lower-case as ext_proc expects.
const (
	HeaderAuthorization = "authorization"
	HeaderDate          = "x-amz-date"
	HeaderSecurityToken = "x-amz-security-token" //nolint:gosec // a header name, not a credential
	HeaderContentSHA256 = "x-amz-content-sha256"
)

// EmptyPayloadHash is the hex SHA-256 of zero bytes: the payload hash of a
// bodyless request such as an MCP GET stream or DELETE session.
const EmptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

const redacted = "[REDACTED]"

// Request is everything that determines a signature. It describes the
// request as it will leave Envoy, not as it arrived.
type Request struct {
	// Method is the HTTP method.
	Method string
	// Host is the configured upstream host (for example
	// aws-mcp.us-east-1.api.aws), with a port only if Envoy sends one; a
	// default https port is dropped as the SDK does.
	Host string
	// Path is the :path as it will leave Envoy: percent-encoded, starting
	// with "/", and possibly carrying a query after "?".
	Path string
	// Body is the exact body Envoy forwards; nil or empty for bodyless
	// requests.
	Body []byte
	// ContentType is the request's content-type, signed when not empty.
	ContentType string
	// Credentials are the caller's temporary AWS credentials.
	Credentials aws.Credentials
	// Region and Service make up the credential scope (us-east-1, aws-mcp).
	Region, Service string
	// Time is the signing time; zero means the Signer's clock.
	Time time.Time
}

// LogValue keeps credentials and the body out of structured logs.
func (r Request) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("method", r.Method),
		slog.String("host", r.Host),
		slog.String("path", r.Path),
		slog.Int("body_bytes", len(r.Body)),
		slog.String("region", r.Region),
		slog.String("service", r.Service),
		slog.String("access_key_id", r.Credentials.AccessKeyID),
	)
}

// String keeps credentials out of fmt's %v and %s.
func (r Request) String() string {
	return fmt.Sprintf("sigv4.Request{%s %s%s region=%s service=%s credentials=%s}",
		r.Method, r.Host, r.Path, r.Region, r.Service, redacted)
}

// GoString keeps credentials out of fmt's %#v.
func (r Request) GoString() string { return r.String() }

// Header is one header to set on the outgoing request. Name is lower-case.
type Header struct {
	Name, Value string
}

// sensitive reports whether a header's value is a secret or a signature.
func sensitive(name string) bool {
	return strings.EqualFold(name, HeaderAuthorization) || strings.EqualFold(name, HeaderSecurityToken)
}

// LogValue prints the value of authorization and x-amz-security-token as
// [REDACTED]: one is a signature, the other a bearer credential.
func (h Header) LogValue() slog.Value {
	v := h.Value
	if sensitive(h.Name) {
		v = redacted
	}
	return slog.GroupValue(slog.String("name", h.Name), slog.String("value", v))
}

// String redacts like LogValue, for fmt and for slices of headers.
func (h Header) String() string {
	if sensitive(h.Name) {
		return h.Name + ": " + redacted
	}
	return h.Name + ": " + h.Value
}

// GoString redacts like String, for fmt's %#v.
func (h Header) GoString() string { return "sigv4.Header{" + h.String() + "}" }

// MarshalJSON redacts like LogValue, so that a slice of headers logged by a
// JSON handler (which marshals slices with encoding/json) leaks nothing.
func (h Header) MarshalJSON() ([]byte, error) {
	v := h.Value
	if sensitive(h.Name) {
		v = redacted
	}
	return json.Marshal(struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}{h.Name, v})
}

// Result is the header mutation that makes the outgoing request signed.
// Removing the client's own AWS headers is the caller's job (extproc owns
// header stripping); the signer only says what to set.
type Result struct {
	// Set lists the headers to set, replacing any existing value.
	Set []Header
}

// LogValue logs the header names and the non-secret values.
func (r Result) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, len(r.Set))
	for _, h := range r.Set {
		v := h.Value
		if sensitive(h.Name) {
			v = redacted
		}
		attrs = append(attrs, slog.String(h.Name, v))
	}
	return slog.GroupValue(attrs...)
}

// Options configure a Signer.
type Options struct {
	// Clock gives the signing time when Request.Time is zero; nil means
	// time.Now.
	Clock func() time.Time
	// OmitPayloadHashHeader leaves x-amz-content-sha256 out of the signed
	// and returned headers. The payload hash is still part of the canonical
	// request either way; the header only lets the service check it early.
	// Default false: the header is sent.
	OmitPayloadHashHeader bool
}

// Signer signs outgoing requests. It is safe for concurrent use: it holds
// immutable configuration and a cache of derived signing keys guarded by a
// lock.
type Signer struct {
	clock           func() time.Time
	omitPayloadHash bool
	keys            keyCache
}

// New returns a Signer. Paths are escaped once more, which is what every
// service but S3 expects.
func New(opts Options) *Signer {
	clock := opts.Clock
	if clock == nil {
		clock = time.Now
	}
	return &Signer{
		clock:           clock,
		omitPayloadHash: opts.OmitPayloadHashHeader,
	}
}

// Sign computes the SigV4 headers for r. The client's headers are never
// signed, so Sign does not see them. Errors are *mcpguard.Error: KindInvalidRequest for a path or
// query that cannot be signed, KindCredentialsUnavailable for missing or
// expired credentials, KindInternal for bad configuration.
func (s *Signer) Sign(_ context.Context, r Request) (Result, error) {
	t, err := s.prepare(r)
	if err != nil {
		return Result{}, err
	}
	sig, err := s.signDirect(r, t, nil, nil)
	if err != nil {
		return Result{}, err
	}
	set := make([]Header, 0, 4)
	set = append(set,
		Header{Name: HeaderAuthorization, Value: sig.authorization},
		Header{Name: HeaderDate, Value: sig.date},
	)
	if tok := r.Credentials.SessionToken; tok != "" {
		set = append(set, Header{Name: HeaderSecurityToken, Value: tok})
	}
	if !s.omitPayloadHash {
		set = append(set, Header{Name: HeaderContentSHA256, Value: sig.payloadHash})
	}
	return Result{Set: set}, nil
}

// prepare validates r and returns its signing time.
func (s *Signer) prepare(r Request) (time.Time, error) {
	if err := validate(r); err != nil {
		return time.Time{}, err
	}
	t := r.Time
	if t.IsZero() {
		t = s.clock()
	}
	if r.Credentials.CanExpire && !t.Before(r.Credentials.Expires) {
		return time.Time{}, mcpguard.E(mcpguard.KindCredentialsUnavailable, "AWS credentials expired",
			fmt.Errorf("sign request: credentials expired at %s", r.Credentials.Expires.UTC().Format(time.RFC3339)))
	}
	return t, nil
}

// errQuery is the refusal of a query that does not parse: the SDK would
// silently drop a malformed pair from the canonical query, so the request
// is refused instead.
func errQuery(err error) error {
	return mcpguard.E(mcpguard.KindInvalidRequest, "request query cannot be signed", fmt.Errorf("parse query: %w", err))
}

// canonicalPath normalises a percent-encoded path the way SigV4 requires for
// every service except S3: empty and "." segments dropped, ".." resolved
// (never above the root), and a trailing slash kept when the path had one.
func canonicalPath(p string) string {
	if p == "" || p == "/" {
		return "/"
	}
	c := path.Clean(p)
	if c != "/" && strings.HasSuffix(p, "/") {
		c += "/"
	}
	return c
}

// validate rejects requests that cannot be signed correctly.
func validate(r Request) error {
	switch {
	case r.Method == "" || strings.ContainsFunc(r.Method, notToken):
		return mcpguard.E(mcpguard.KindInvalidRequest, "request method cannot be signed", fmt.Errorf("validate request: bad method %q", r.Method))
	case r.Host == "" || strings.ContainsAny(r.Host, "/?#@ ") || strings.ContainsFunc(r.Host, isCtl):
		return mcpguard.E(mcpguard.KindInternal, "signing host misconfigured", fmt.Errorf("validate request: bad host %q", r.Host))
	case r.Region == "" || r.Service == "":
		return mcpguard.E(mcpguard.KindInternal, "signing scope misconfigured", fmt.Errorf("validate request: region %q service %q", r.Region, r.Service))
	case !strings.HasPrefix(r.Path, "/") || strings.ContainsFunc(r.Path, isCtl) || strings.ContainsRune(r.Path, '#'):
		return mcpguard.E(mcpguard.KindInvalidRequest, "request path cannot be signed", fmt.Errorf("validate request: bad path %q", r.Path))
	case strings.ContainsFunc(r.ContentType, isCtl):
		return mcpguard.E(mcpguard.KindInvalidRequest, "request content-type cannot be signed", fmt.Errorf("validate request: control character in content-type"))
	case r.Credentials.AccessKeyID == "" || r.Credentials.SecretAccessKey == "":
		return mcpguard.E(mcpguard.KindCredentialsUnavailable, "AWS credentials unavailable", fmt.Errorf("validate request: empty credentials"))
	}
	return nil
}

func isCtl(c rune) bool { return c < 0x20 || c == 0x7f }

// notToken reports a rune that may not appear in an HTTP method (RFC 9110
// token).
func notToken(c rune) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return false
	}
	return !strings.ContainsRune("!#$%&'*+-.^_`|~", c)
}
