package authn

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Token sources: where the claims come from.
const (
	// SourceHeader verifies the Authorization bearer token in mcpguard.
	SourceHeader = "header"
	// SourceEnvoyMetadata takes claims that Envoy's jwt_authn filter verified.
	SourceEnvoyMetadata = "envoy_metadata"
)

// Defaults for the zero values of Options.
const (
	DefaultGroupClaim         = "groups"
	DefaultMetadataKey        = "jwt_payload"
	DefaultRefreshInterval    = 15 * time.Minute
	DefaultMinRefetchInterval = 30 * time.Second
	DefaultCacheSize          = 10000
	// MaxClockSkew bounds ClockSkew: more would keep expired tokens alive.
	MaxClockSkew = 5 * time.Minute
)

// asymmetricAlgs are the only algorithms that may ever be allowed: a public
// key verifies but cannot sign, so a JWKS can never be turned into a forger.
var asymmetricAlgs = []string{
	"RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512",
	"EdDSA",
}

// Options configures an Authenticator. Zero values take the documented
// defaults; Issuer and Audiences are required.
type Options struct {
	// Name names the identity provider when several are configured
	// (Multi). A named provider's identities are provider-qualified
	// (Identity.Provider, Identity.UserKey) and read their groups, roles,
	// scopes and session name through Claims. Empty: the single-issuer
	// behaviour of oidc_config, with principals keyed by sub alone.
	Name string
	// Issuer is the exact iss every token must carry, and the base of OIDC
	// discovery. https, or http on a loopback host (tests, quickstart).
	// With TenantPlaceholder it is a template matched against iss with
	// Tenants as the allow list.
	Issuer string
	// Tenants are the tenant ids an issuer template accepts. Required
	// with a template, forbidden without.
	Tenants []string
	// DiscoveryURL overrides where the OIDC discovery document is read
	// (Entra's common endpoint for a tenant template). Default
	// Issuer + "/.well-known/openid-configuration".
	DiscoveryURL string
	// Claims maps a named provider's claims; zero fields take the
	// ClaimMapping defaults. Ignored when Name is empty.
	Claims ClaimMapping
	// GroupNames maps group ids (Entra object-id GUIDs) to the names
	// policies and role mappings use. Ids not listed stay as they are.
	GroupNames map[string]string
	// GroupPrefix is prepended to every group and role name of a named
	// provider, so that two providers' groups never merge.
	GroupPrefix string
	// AuthorizationServers are advertised in the resource metadata.
	// Default [Issuer].
	AuthorizationServers []string
	// Audiences: a token's aud must contain at least one of these.
	Audiences []string
	// JWKSURL is the key set location. Empty means OIDC discovery at
	// Issuer + "/.well-known/openid-configuration", whose issuer must equal
	// Issuer exactly (OIDC Discovery §4.3), so a discovery document cannot
	// point us at another issuer's keys.
	JWKSURL string
	// AllowedAlgorithms limits the JWS algorithms accepted; only asymmetric
	// algorithms (RS*, PS*, ES*, EdDSA) may be listed. Empty allows all of them.
	AllowedAlgorithms []string
	// ClockSkew tolerated on exp, nbf and iat; zero means none. At most
	// MaxClockSkew.
	ClockSkew time.Duration
	// GroupClaim names the claim holding the caller's groups; see
	// GroupsFromClaims for the accepted shapes. Default "groups".
	GroupClaim string
	// ExtraGroupClaims are further claims that other stages read as groups
	// (the STS role claim, the Cedar group claim when they differ from
	// GroupClaim). Each must read whole (GroupsFromClaims) or the token is
	// refused here, with a 401 and an audit record, rather than later.
	ExtraGroupClaims []string
	// RequiredClaims are claims besides sub and iss that every token must
	// carry as a non-empty string of at most MaxClaimBytes (for example the
	// claim session names are built from). Empty: only sub and iss.
	RequiredClaims []string
	// TokenSource is SourceHeader (default) or SourceEnvoyMetadata.
	TokenSource string
	// MetadataKey is jwt_authn's payload_in_metadata key. Default "jwt_payload".
	MetadataKey string
	// Resource is this protected resource's identifier (RFC 9728), the URL
	// MCP clients connect to. Empty disables resource metadata.
	Resource string
	// ScopesSupported is advertised in the resource metadata.
	ScopesSupported []string
	// HTTPClient fetches discovery and JWKS. Default: a client with a 10 s
	// timeout that follows at most 5 redirects, never to plain http.
	HTTPClient *http.Client
	// Logger receives key-set refresh events; nil discards.
	Logger *slog.Logger
	// Now is the clock for token validation, the cache and the refetch
	// rate limit. Default time.Now.
	Now func() time.Time
	// RefreshInterval is how often the key set is refetched in the
	// background. Default 15 minutes.
	RefreshInterval time.Duration
	// MinRefetchInterval rate-limits on-demand fetches (unknown kid, no key
	// set yet) so that tokens with random kids cannot make us hammer the
	// issuer. Default 30 seconds.
	MinRefetchInterval time.Duration
	// CacheSize bounds the verified-token cache. Zero means
	// DefaultCacheSize; negative disables the cache.
	CacheSize int
	// OnJWKSRefresh, when set, is called after every key-set fetch attempt
	// with its outcome (for metrics). It must not block.
	OnJWKSRefresh func(ok bool)
}

// normalize validates o and fills in defaults.
func (o Options) normalize() (Options, error) {
	var errs []error
	if o.Issuer == "" {
		errs = append(errs, errors.New("issuer is required"))
	} else if err := checkURL(strings.ReplaceAll(o.Issuer, TenantPlaceholder, "tenant"), false); err != nil {
		errs = append(errs, fmt.Errorf("issuer: %w", err))
	}
	m, err := newIssuerMatcher(o.Issuer, o.Tenants)
	if err != nil {
		errs = append(errs, err)
	} else if m.template() && o.JWKSURL == "" && o.DiscoveryURL == "" {
		errs = append(errs, errors.New("an issuer template needs jwks_url or discovery_url (the template itself is not a URL to fetch)"))
	}
	if o.DiscoveryURL != "" {
		if err := checkURL(o.DiscoveryURL, true); err != nil {
			errs = append(errs, fmt.Errorf("discovery url: %w", err))
		}
	}
	if o.Claims.Groups == "" {
		o.Claims.Groups = o.GroupClaim
		if o.Claims.Groups == "" {
			o.Claims.Groups = DefaultGroupClaim
		}
	}
	if o.Claims.SessionName == "" {
		o.Claims.SessionName = "email"
	}
	if o.Claims.EmailVerified == "" {
		o.Claims.EmailVerified = "email_verified"
	}
	if len(o.AuthorizationServers) == 0 {
		o.AuthorizationServers = []string{o.Issuer}
	}
	if len(o.Audiences) == 0 {
		errs = append(errs, errors.New("at least one audience is required"))
	}
	for _, a := range o.Audiences {
		if strings.TrimSpace(a) == "" {
			errs = append(errs, errors.New("audiences must not be empty strings"))
			break
		}
	}
	if o.JWKSURL != "" {
		if err := checkURL(o.JWKSURL, true); err != nil {
			errs = append(errs, fmt.Errorf("jwks url: %w", err))
		}
	}
	if len(o.AllowedAlgorithms) == 0 {
		o.AllowedAlgorithms = slices.Clone(asymmetricAlgs)
	}
	for _, alg := range o.AllowedAlgorithms {
		if !slices.Contains(asymmetricAlgs, alg) {
			errs = append(errs, fmt.Errorf("algorithm %q is not allowed (only %s)", alg, strings.Join(asymmetricAlgs, ", ")))
		}
	}
	if o.ClockSkew < 0 || o.ClockSkew > MaxClockSkew {
		errs = append(errs, fmt.Errorf("clock skew %s outside [0, %s]", o.ClockSkew, MaxClockSkew))
	}
	if o.GroupClaim == "" {
		o.GroupClaim = DefaultGroupClaim
	}
	switch o.TokenSource {
	case "":
		o.TokenSource = SourceHeader
	case SourceHeader, SourceEnvoyMetadata:
	default:
		errs = append(errs, fmt.Errorf("token source %q is not %q or %q", o.TokenSource, SourceHeader, SourceEnvoyMetadata))
	}
	if o.MetadataKey == "" {
		o.MetadataKey = DefaultMetadataKey
	}
	if o.Resource != "" {
		if err := checkURL(o.Resource, true); err != nil {
			errs = append(errs, fmt.Errorf("resource: %w", err))
		}
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second, CheckRedirect: checkRedirect}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RefreshInterval < 0 || o.MinRefetchInterval < 0 {
		errs = append(errs, errors.New("refresh intervals must not be negative"))
	}
	if o.RefreshInterval == 0 {
		o.RefreshInterval = DefaultRefreshInterval
	}
	if o.MinRefetchInterval == 0 {
		o.MinRefetchInterval = DefaultMinRefetchInterval
	}
	if o.CacheSize == 0 {
		o.CacheSize = DefaultCacheSize
	}
	if err := errors.Join(errs...); err != nil {
		return o, fmt.Errorf("invalid authn options: %w", err)
	}
	return o, nil
}

// checkURL accepts absolute https URLs, and http ones on loopback hosts so
// the local quickstart and tests need no certificates. allowQuery lets
// resource and JWKS URLs carry a query; issuers may not (OIDC Discovery §2).
func checkURL(raw string, allowQuery bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("parse %q: %w", raw, err)
	}
	if u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	if u.User != nil || u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("%q must not contain user info or a fragment", raw)
	}
	if !allowQuery && u.RawQuery != "" {
		return fmt.Errorf("%q must not contain a query", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return fmt.Errorf("%q must use https (http only on loopback)", raw)
		}
	default:
		return fmt.Errorf("%q must use https", raw)
	}
	return nil
}

// checkRedirect keeps key fetches on https: a redirect to plain http would
// let the network, not the issuer, choose our keys.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("too many redirects")
	}
	return checkURL(req.URL.String(), true)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
