package authn

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/mcpguard/mcpguard"
)

// WellKnownPath is the RFC 9728 well-known path of protected resource
// metadata; MCP clients fetch it after a 401 to find the authorization server.
const WellKnownPath = "/.well-known/oauth-protected-resource"

// IsMetadataPath reports whether an HTTP request path (query allowed) asks
// for protected resource metadata: WellKnownPath alone or followed by a
// resource path (RFC 9728 §3.1), so the pipeline can answer it before
// authentication.
func IsMetadataPath(path string) bool {
	path, _, _ = strings.Cut(path, "?")
	return path == WellKnownPath || strings.HasPrefix(path, WellKnownPath+"/")
}

// resourceMetadataURL derives the metadata URL of a resource identifier
// (RFC 9728 §3.1): the well-known path goes between the host and the
// resource's path; a path of just "/" is dropped; a query stays at the end.
// It returns the full URL and its path.
func resourceMetadataURL(resource string) (full, path string, err error) {
	u, err := url.Parse(resource)
	if err != nil {
		return "", "", fmt.Errorf("parse resource: %w", err)
	}
	p := u.EscapedPath()
	if p == "/" {
		p = ""
	}
	path = WellKnownPath + p
	full = u.Scheme + "://" + u.Host + path
	if u.RawQuery != "" {
		full += "?" + u.RawQuery
	}
	return full, path, nil
}

// buildResourceMetadata renders the RFC 9728 §2 document for o.Resource.
func buildResourceMetadata(o Options) ([]byte, error) {
	doc := struct {
		Resource               string   `json:"resource"`
		AuthorizationServers   []string `json:"authorization_servers"`
		ScopesSupported        []string `json:"scopes_supported,omitempty"`
		BearerMethodsSupported []string `json:"bearer_methods_supported"`
	}{
		Resource:               o.Resource,
		AuthorizationServers:   o.AuthorizationServers,
		ScopesSupported:        o.ScopesSupported,
		BearerMethodsSupported: []string{"header"},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode resource metadata: %w", err)
	}
	return b, nil
}

// ProtectedResourceMetadata returns the RFC 9728 JSON document to serve at
// MetadataPath (Content-Type application/json), or nil when no Resource is
// configured (answer 404 then). The caller owns the returned slice.
func (a *Authenticator) ProtectedResourceMetadata() []byte {
	return slices.Clone(a.prm)
}

// MetadataPath is the request path at which ProtectedResourceMetadata is
// advertised, "" when no Resource is configured.
func (a *Authenticator) MetadataPath() string { return a.prmPath }

// ResourceFor returns the protected resource identifier: the configured
// Resource when there is one, else one derived from configuration the
// caller passes (the upstream's host and path), never from what a client
// sent: a metadata document or challenge built from :authority or Host
// would let any client, or a cache between them, point other clients at
// an authorization server of its choosing. Callers pass https, the
// configured host and the configured path.
func (a *Authenticator) ResourceFor(scheme, authority, path string) string {
	if a.o.Resource != "" {
		return a.o.Resource
	}
	if authority == "" {
		return ""
	}
	if scheme != "http" {
		scheme = "https"
	}
	path, _, _ = strings.Cut(path, "?")
	if IsMetadataPath(path) {
		path = strings.TrimPrefix(path, WellKnownPath)
	}
	return scheme + "://" + authority + path
}

// ResourceConfigured reports whether the resource identifier is
// configured rather than derived, so the metadata document may be cached
// by shared caches.
func (a *Authenticator) ResourceConfigured() bool { return a.o.Resource != "" }

// MetadataFor returns the RFC 9728 document for resource, which should come
// from ResourceFor: the document built at startup when a Resource is
// configured, else one built for the resource the client called. It returns
// nil when resource is empty or not a URL.
func (a *Authenticator) MetadataFor(resource string) []byte {
	if a.prm != nil {
		return slices.Clone(a.prm)
	}
	if resource == "" {
		return nil
	}
	o := a.o
	o.Resource = resource
	doc, err := buildResourceMetadata(o)
	if err != nil {
		return nil
	}
	return doc
}

// ChallengeFor is Challenge for a request whose resource identifier is
// resource (from ResourceFor), so the resource_metadata URL is present even
// when no Resource is configured.
func (a *Authenticator) ChallengeFor(err error, resource string) string {
	return challenge(err, a.MetadataURLFor(resource))
}

// MetadataURLFor is the URL of the RFC 9728 metadata of resource, for the
// resource_metadata of a challenge (401, or a 403 step-up); "" when none
// can be derived.
func (a *Authenticator) MetadataURLFor(resource string) string {
	u := a.prmURL
	if u == "" && resource != "" {
		if full, _, perr := resourceMetadataURL(resource); perr == nil {
			u = full
		}
	}
	return u
}

// Challenge renders the WWW-Authenticate value for a 401 caused by err.
// A missing token gets no error code (RFC 6750 §3.1); anything else gets
// error="invalid_token" with the safe message. resource_metadata
// (RFC 9728 §5.1) is added when a Resource is configured, so MCP clients can
// discover where to log in.
func (a *Authenticator) Challenge(err error) string {
	return challenge(err, a.prmURL)
}

func challenge(err error, metadataURL string) string {
	var b strings.Builder
	b.WriteString("Bearer")
	sep := " "
	if mcpguard.ReasonOf(err) != ReasonMissing {
		b.WriteString(` error="invalid_token", error_description=`)
		b.WriteString(quote(errorDescription(mcpguard.SafeMessage(err))))
		sep = ", "
	}
	if metadataURL != "" {
		b.WriteString(sep)
		b.WriteString("resource_metadata=")
		b.WriteString(quote(metadataURL))
	}
	return b.String()
}

// errorDescription keeps only the characters RFC 6750 §3 allows in
// error_description (%x20-21 / %x23-5B / %x5D-7E), bounded in length.
func errorDescription(s string) string {
	out := make([]byte, 0, min(len(s), 200))
	for i := 0; i < len(s) && len(out) < 200; i++ {
		c := s[i]
		if c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' {
			out = append(out, c)
		}
	}
	return string(out)
}

// quote renders an RFC 9110 quoted-string, escaping '"' and '\' and
// dropping control characters that may not appear in a header value.
func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 && c != '\t', c == 0x7f:
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
