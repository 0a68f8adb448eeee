package authn

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

const (
	// maxDocumentBytes bounds discovery and JWKS responses.
	maxDocumentBytes = 1 << 20
	// maxKeys bounds how many keys of one key set are kept.
	maxKeys = 100
	// minRSABits rejects keys too weak to trust (RFC 8725 §3.5 via NIST).
	minRSABits = 2048
	// fetchTimeout bounds one discovery + JWKS round.
	fetchTimeout = 10 * time.Second
	// maxRetryBackoff caps the retry delay after a failed background fetch.
	maxRetryBackoff = 5 * time.Minute
)

// verKey is one usable verification key of the issuer.
type verKey struct {
	kid   string
	alg   string // the JWK's alg, "" when the key does not pin one
	raw   any    // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
	thumb string // RFC 7638 thumbprint, identifies the key material
}

// keySet is an immutable snapshot of the issuer's keys.
type keySet struct {
	byKid   map[string][]*verKey
	all     []*verKey
	fetched time.Time
}

// newKeySet keeps the keys of set that can verify signatures: public parts
// of RSA (≥2048 bits), EC P-256/384/521 and Ed25519 keys whose use and
// key_ops permit signature verification. Symmetric keys are dropped: an
// HMAC secret published in a JWKS is not a secret.
func newKeySet(set jwk.Set, now time.Time) (*keySet, error) {
	ks := &keySet{byKid: map[string][]*verKey{}, fetched: now}
	for i := range set.Len() {
		k, ok := set.Key(i)
		if !ok {
			continue
		}
		if u := k.KeyUsage(); u != "" && u != string(jwk.ForSignature) {
			continue
		}
		if ops := k.KeyOps(); len(ops) > 0 && !slices.Contains(ops, jwk.KeyOpVerify) {
			continue
		}
		raw, err := jwk.PublicRawKeyOf(k)
		if err != nil {
			continue
		}
		switch r := raw.(type) {
		case *rsa.PublicKey:
			if r.N.BitLen() < minRSABits {
				continue
			}
		case *ecdsa.PublicKey:
			switch r.Curve {
			case elliptic.P256(), elliptic.P384(), elliptic.P521():
			default:
				continue
			}
		case ed25519.PublicKey:
		default:
			continue // symmetric, X25519, secp256k1, ...
		}
		pub, err := jwk.PublicKeyOf(k)
		if err != nil {
			continue
		}
		tp, err := pub.Thumbprint(crypto.SHA256)
		if err != nil {
			continue
		}
		vk := &verKey{kid: k.KeyID(), alg: k.Algorithm().String(), raw: raw, thumb: string(tp)}
		ks.all = append(ks.all, vk)
		ks.byKid[vk.kid] = append(ks.byKid[vk.kid], vk)
		if len(ks.all) == maxKeys {
			break
		}
	}
	if len(ks.all) == 0 {
		return nil, errors.New("key set has no usable signature verification keys")
	}
	return ks, nil
}

// find returns the keys that may verify a token with this kid and alg.
// kidKnown reports whether kid names any key at all, so a known kid used
// with the wrong algorithm is told apart from an unknown kid. A token
// without kid may use the only compatible key of the set.
func (ks *keySet) find(kid, alg string) (keys []*verKey, kidKnown bool) {
	pool := ks.all
	if kid != "" {
		pool = ks.byKid[kid]
		kidKnown = len(pool) > 0
	}
	for _, k := range pool {
		if compatible(k, alg) {
			keys = append(keys, k)
		}
	}
	if kid == "" && len(keys) > 1 {
		return nil, false
	}
	return keys, kidKnown
}

// has reports whether the key a cached token was verified with is still
// published, so retiring a key at the issuer also ends cached tokens.
func (ks *keySet) has(kid, thumb string) bool {
	for _, k := range ks.byKid[kid] {
		if k.thumb == thumb {
			return true
		}
	}
	return false
}

// compatible reports whether key k can verify alg: the key type and curve
// must fit the algorithm, and a key that pins an alg allows only that one.
func compatible(k *verKey, alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch r := k.raw.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return r.Curve == elliptic.P256()
		case "ES384":
			return r.Curve == elliptic.P384()
		case "ES512":
			return r.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// fetchCall is one fetch in flight; concurrent callers share it.
type fetchCall struct {
	done chan struct{}
	err  error
}

// startFetch begins a key-set fetch, or joins the one in flight. When
// limited (an on-demand fetch for an unknown kid), it starts nothing
// (returns nil) if the last on-demand fetch was less than MinRefetchInterval
// ago. Scheduled and startup fetches do not count against that limit: a key
// rotated in just after a scheduled fetch must still be found at once.
func (a *Authenticator) startFetch(limited bool) *fetchCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.inflight != nil {
		return a.inflight
	}
	now := a.o.Now()
	if limited && !a.lastOnDemand.IsZero() && now.Sub(a.lastOnDemand) < a.o.MinRefetchInterval {
		return nil
	}
	if a.closed {
		return nil
	}
	if limited {
		a.lastOnDemand = now
	}
	c := &fetchCall{done: make(chan struct{})}
	a.inflight = c
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		ctx, cancel := context.WithTimeout(a.ctx, fetchTimeout)
		c.err = a.fetch(ctx)
		cancel()
		a.mu.Lock()
		a.inflight = nil
		a.mu.Unlock()
		close(c.done)
	}()
	return c
}

// refetch runs a rate-limited fetch and waits for it. It reports whether a
// fetch ran (successfully or not) so callers know whether looking again
// can help.
func (a *Authenticator) refetch(ctx context.Context) bool {
	c := a.startFetch(true) //nolint:contextcheck // a fetch is shared by every waiting request; none may cancel it
	if c == nil {
		return false
	}
	select {
	case <-c.done:
		return true
	case <-ctx.Done():
		return false
	}
}

// fetch gets the key set (after discovery when needed) and installs it.
// On failure the previous key set stays in use.
func (a *Authenticator) fetch(ctx context.Context) (err error) {
	defer func() {
		if a.o.OnJWKSRefresh != nil {
			a.o.OnJWKSRefresh(err == nil)
		}
		if err != nil {
			a.log.Warn("jwks refresh failed; keeping previous keys", "issuer", a.o.Issuer, "have_keys", a.keys.Load() != nil, "error", err)
		}
	}()
	u, err := a.jwksEndpoint(ctx)
	if err != nil {
		return err
	}
	body, err := a.get(ctx, u)
	if err != nil {
		// The issuer may have moved its keys: discover again next time.
		a.discovered.Store(nil)
		return fmt.Errorf("fetch jwks: %w", err)
	}
	set, err := jwk.Parse(body)
	if err != nil {
		return fmt.Errorf("parse jwks: %w", err)
	}
	ks, err := newKeySet(set, a.o.Now())
	if err != nil {
		return fmt.Errorf("load jwks: %w", err)
	}
	a.keys.Store(ks)
	a.log.Debug("jwks refreshed", "issuer", a.o.Issuer, "keys", len(ks.all))
	return nil
}

// jwksEndpoint returns the configured JWKS URL or discovers it once.
func (a *Authenticator) jwksEndpoint(ctx context.Context) (string, error) {
	if a.o.JWKSURL != "" {
		return a.o.JWKSURL, nil
	}
	if u := a.discovered.Load(); u != nil {
		return *u, nil
	}
	discovery := a.o.DiscoveryURL
	if discovery == "" {
		discovery = strings.TrimSuffix(a.o.Issuer, "/") + "/.well-known/openid-configuration"
	}
	body, err := a.get(ctx, discovery)
	if err != nil {
		return "", fmt.Errorf("fetch discovery document: %w", err)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("parse discovery document: %w", err)
	}
	// A template provider's common document names the template itself;
	// a tenant's own document names one allowed tenant's issuer.
	if _, ok := a.iss.match(doc.Issuer); doc.Issuer != a.o.Issuer && !ok {
		return "", fmt.Errorf("discovery document names issuer %q, want %q", doc.Issuer, a.o.Issuer)
	}
	if err := checkURL(doc.JWKSURI, true); err != nil {
		return "", fmt.Errorf("discovery jwks_uri: %w", err)
	}
	a.discovered.Store(&doc.JWKSURI)
	return doc.JWKSURI, nil
}

// get fetches a small JSON document.
func (a *Authenticator) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := a.o.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDocumentBytes))
		return nil, fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", u, err)
	}
	if len(body) > maxDocumentBytes {
		return nil, fmt.Errorf("GET %s: body larger than %d bytes", u, maxDocumentBytes)
	}
	return body, nil
}

// refreshLoop fetches at once, then every RefreshInterval; after a failure
// it retries with exponential backoff (1 s doubling, capped) so an issuer
// that was down at start is picked up quickly.
func (a *Authenticator) refreshLoop() {
	defer a.wg.Done()
	backoff := time.Second
	for {
		wait := a.o.RefreshInterval
		if c := a.startFetch(false); c != nil {
			select {
			case <-c.done:
			case <-a.ctx.Done():
				return
			}
			if c.err != nil {
				wait = min(backoff, a.o.RefreshInterval)
				backoff = min(backoff*2, maxRetryBackoff)
			} else {
				backoff = time.Second
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-a.ctx.Done():
			t.Stop()
			return
		}
	}
}
