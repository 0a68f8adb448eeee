package authn

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// maxProviders bounds how many identity providers one gateway trusts.
const maxProviders = 32

// Multi authenticates tokens of several identity providers. A token is
// matched to its provider by iss before any key is fetched, so a token
// naming an unknown issuer costs no network call, and each provider
// verifies only with its own keys: a key of provider A never verifies a
// token that claims provider B. It shares one verified-token cache across
// providers, so the cached path costs the same however many are
// configured.
//
// The resource metadata methods (ResourceFor, ChallengeFor, MetadataFor,
// ...) are the first provider's, which advertises every provider's issuer.
type Multi struct {
	*Authenticator // the first provider: resource metadata

	providers []*Authenticator
	exact     map[string]*Authenticator
	templates []*Authenticator
	cache     *tokenCache
}

// NewMulti starts one Authenticator per Options (each with its own key set
// and refresh loop). Several providers must all be named, with distinct
// names and issuers no token could match twice; a single unnamed one is
// the oidc_config behaviour. Options.CacheSize of the first sizes the
// shared cache.
func NewMulti(ctx context.Context, opts []Options) (*Multi, error) {
	switch {
	case len(opts) == 0:
		return nil, errors.New("invalid authn options: no identity provider")
	case len(opts) > maxProviders:
		return nil, fmt.Errorf("invalid authn options: more than %d identity providers", maxProviders)
	}
	var servers []string
	names := map[string]bool{}
	matchers := make([]issuerMatcher, len(opts))
	for i, o := range opts {
		if len(opts) > 1 && o.Name == "" {
			return nil, fmt.Errorf("invalid authn options: provider %d has no name", i)
		}
		if o.Name != "" && names[o.Name] {
			return nil, fmt.Errorf("invalid authn options: provider name %q used twice", o.Name)
		}
		names[o.Name] = true
		m, err := newIssuerMatcher(o.Issuer, o.Tenants)
		if err != nil {
			return nil, fmt.Errorf("invalid authn options: provider %q: %w", o.Name, err)
		}
		for j := range i {
			if m.overlaps(matchers[j]) {
				return nil, fmt.Errorf("invalid authn options: providers %q and %q accept the same issuer", opts[j].Name, o.Name)
			}
		}
		matchers[i] = m
		if !m.template() {
			servers = append(servers, o.Issuer)
		} else {
			for _, t := range slices.Sorted(maps.Keys(m.tenants)) {
				servers = append(servers, strings.ReplaceAll(o.Issuer, TenantPlaceholder, t))
			}
		}
	}
	m := &Multi{exact: map[string]*Authenticator{}, cache: newTokenCache(opts[0].CacheSize)}
	if opts[0].CacheSize == 0 {
		m.cache = newTokenCache(DefaultCacheSize)
	}
	for i, o := range opts {
		o.CacheSize = -1 // the shared cache serves every provider
		if i == 0 && len(o.AuthorizationServers) == 0 {
			o.AuthorizationServers = slices.Compact(servers)
		}
		a, err := New(ctx, o)
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("provider %q: %w", o.Name, err)
		}
		m.providers = append(m.providers, a)
		if matchers[i].template() {
			m.templates = append(m.templates, a)
		} else {
			m.exact[o.Issuer] = a
		}
	}
	m.Authenticator = m.providers[0]
	return m, nil
}

// Providers returns the provider authenticators in configuration order,
// for readiness reporting and tests.
func (m *Multi) Providers() []*Authenticator { return m.providers }

// Name is the provider's name (Options.Name).
func (a *Authenticator) Name() string { return a.o.Name }

// providerError attributes an authentication failure to the configured
// provider whose issuer the token named, for per-provider metrics. It
// wraps the *mcpguard.Error unchanged (errors.As finds it, the message is
// the same).
type providerError struct {
	provider string
	err      error
}

func (e *providerError) Error() string { return e.err.Error() }
func (e *providerError) Unwrap() error { return e.err }

// ProviderOf is the oidc_providers name an authentication error is
// attributed to: the provider the token's iss named. It is "" with a
// single unnamed provider and when the token named none (malformed,
// unknown issuer), so a metric label built from it only ever holds
// configured names.
func ProviderOf(err error) string {
	var pe *providerError
	if errors.As(err, &pe) {
		return pe.provider
	}
	return ""
}

// Authenticate finds the token's provider by its iss and validates the
// token with that provider alone. Failures after the provider is known
// carry its name (ProviderOf).
func (m *Multi) Authenticate(ctx context.Context, in Input) (*Identity, error) {
	id, p, err := m.authenticate(ctx, in)
	if err != nil && p != nil && p.o.Name != "" {
		return nil, &providerError{provider: p.o.Name, err: err}
	}
	return id, err
}

func (m *Multi) authenticate(ctx context.Context, in Input) (*Identity, *Authenticator, error) {
	raw, err := bearerField(in)
	if err != nil {
		return nil, nil, err
	}
	if id := m.cache.get(raw, m.providers[0].o.Now()); id != nil {
		// The cached token passed compactJWS when it was verified.
		p := m.cached(id)
		md, err := p.metadataClaims(in)
		if err != nil {
			return nil, p, err
		}
		if err := p.agreeMetadata(md, id); err != nil {
			return nil, p, err
		}
		return id, p, nil
	}
	if err := compactJWS(raw); err != nil {
		return nil, nil, err
	}
	p, err := m.route(raw)
	if err != nil {
		return nil, nil, err
	}
	md, err := p.metadataClaims(in)
	if err != nil {
		return nil, p, err
	}
	id, key, err := p.verify(ctx, raw, tokenDigest(raw))
	if err != nil {
		return nil, p, err
	}
	m.cache.put(id, p, key.kid, key.thumb)
	if err := p.agreeMetadata(md, id); err != nil {
		return nil, p, err
	}
	return id, p, nil
}

// cached finds the provider of a cached identity (its cache entry was put
// by that provider, whose iss matched).
func (m *Multi) cached(id *Identity) *Authenticator {
	if p, ok := m.exact[id.Issuer]; ok {
		return p
	}
	for _, p := range m.templates {
		if _, ok := p.iss.match(id.Issuer); ok {
			return p
		}
	}
	return m.providers[0]
}

// route picks the provider whose issuer the unverified iss names. Nothing
// else of the payload is trusted here: the provider then verifies the
// signature with its own keys and checks iss again.
func (m *Multi) route(raw string) (*Authenticator, error) {
	iss, err := peekIssuer(raw)
	if err != nil {
		return nil, err
	}
	if p, ok := m.exact[iss]; ok {
		return p, nil
	}
	for _, p := range m.templates {
		if _, ok := p.iss.match(iss); ok {
			return p, nil
		}
	}
	return nil, fail(ReasonUnknownIssuer, "token issuer not accepted", fmt.Errorf("no provider for iss %q", truncate(iss)))
}

// peekIssuer reads iss from the unverified payload of a compact JWS.
// encoding/json keeps the last of duplicate keys, as decodeClaims does, so
// the provider chosen here is the one the verified claims name (and the
// provider checks iss again after verifying).
func peekIssuer(raw string) (string, error) {
	first := strings.IndexByte(raw, '.')
	last := strings.LastIndexByte(raw, '.')
	payload, err := base64.RawURLEncoding.DecodeString(raw[first+1 : last])
	if err != nil {
		return "", fail(ReasonMalformed, "malformed token", fmt.Errorf("decode payload: %w", err))
	}
	// A map, not a struct: encoding/json matches struct fields without
	// regard to case, so {"ISS": ...} would route a token whose verified
	// claims have no iss at all.
	var p map[string]json.RawMessage
	if err := json.Unmarshal(payload, &p); err != nil {
		return "", fail(ReasonMalformed, "malformed token claims", fmt.Errorf("decode claims: %w", err))
	}
	var iss string
	if raw, ok := p["iss"]; !ok || json.Unmarshal(raw, &iss) != nil || iss == "" {
		return "", fail(ReasonMissingClaim, "token lacks a required claim", errors.New("no iss string"))
	}
	return iss, nil
}

// Ready reports whether at least one provider has its keys: one provider's
// outage must not take the others' users down with it.
func (m *Multi) Ready() bool {
	for _, p := range m.providers {
		if p.Ready() {
			return true
		}
	}
	return false
}

// NotReady lists, in configuration order, the names of the providers
// that have no key set yet, so readiness reports can say which IdP is
// down while the others serve. A single unnamed provider is listed as "".
func (m *Multi) NotReady() []string {
	var out []string
	for _, p := range m.providers {
		if !p.Ready() {
			out = append(out, p.o.Name)
		}
	}
	return out
}

// Refresh refetches every provider's key set; it returns every failure.
func (m *Multi) Refresh(ctx context.Context) error {
	var errs []error
	for _, p := range m.providers {
		if err := p.Refresh(ctx); err != nil {
			errs = append(errs, fmt.Errorf("provider %q: %w", p.o.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Close stops every provider's background refreshes.
func (m *Multi) Close() {
	for _, p := range m.providers {
		p.Close()
	}
}

// ProviderIdentity completes id, built from claims without a token (the
// `authz check` command), as authentication by the provider of opts whose
// issuer its iss names would: provider, tenant, user key, and the claim
// mapping's groups, roles, scopes and session name. With a single unnamed
// provider id is returned unchanged. No key is fetched and no signature
// checked.
func ProviderIdentity(opts []Options, id *Identity) (*Identity, error) {
	for _, o := range opts {
		if o.Name == "" {
			continue
		}
		m, err := newIssuerMatcher(o.Issuer, o.Tenants)
		if err != nil {
			return nil, fmt.Errorf("provider %q: %w", o.Name, err)
		}
		if _, ok := m.match(id.Issuer); !ok {
			continue
		}
		if o, err = o.normalize(); err != nil {
			return nil, err
		}
		a := &Authenticator{o: o, iss: m}
		return a.providerIdentity(id)
	}
	if len(opts) > 0 && opts[0].Name != "" {
		return nil, fail(ReasonUnknownIssuer, "token issuer not accepted", fmt.Errorf("no provider for iss %q", truncate(id.Issuer)))
	}
	return id, nil
}
