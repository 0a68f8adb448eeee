package fakeidp

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// The signing algorithms the issuer can publish keys for. They are the
// asymmetric algorithms real identity providers use.
const (
	RS256 = "RS256"
	ES256 = "ES256"
	EdDSA = "EdDSA"
)

// Paths served by the issuer, relative to URL().
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	JWKSPath      = "/jwks"
	AuthorizePath = "/authorize"
	TokenPath     = "/token"
)

type config struct {
	addr string
	algs []string
	now  func() time.Time
}

// Option configures New.
type Option func(*config)

// WithAddr listens on a fixed address (for the quickstart, whose config
// names the issuer URL in advance) instead of 127.0.0.1:0.
func WithAddr(addr string) Option { return func(c *config) { c.addr = addr } }

// WithAlgorithms chooses which algorithms get a published key; the first is
// the default for Mint. Without it the issuer publishes RS256, ES256 and
// EdDSA keys and signs with RS256, as most providers do.
func WithAlgorithms(algs ...string) Option {
	return func(c *config) { c.algs = slices.Clone(algs) }
}

// WithClock sets the clock Claims uses for iat/nbf/exp, so tokens line up
// with a fake clock in the code under test.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

type signingKey struct {
	kid  string
	alg  string
	priv crypto.Signer
	pub  jwk.Key // public JWK with kid, alg and use set
}

// IdP is a running issuer. It is safe for concurrent use.
type IdP struct {
	cfg  config
	ln   net.Listener
	srv  *http.Server
	url  string
	done chan struct{}

	mu      sync.Mutex
	keys    []*signingKey          // published, in order of creation
	active  map[string]*signingKey // by algorithm
	foreign map[string]*signingKey // never published, by algorithm
	seq     int
	down    bool
	oauth   *oauthServer // nil until EnableLogin

	jwksFetches      atomic.Int64
	discoveryFetches atomic.Int64
}

// New starts an issuer on loopback. Its URL is the issuer identifier.
func New(opts ...Option) (*IdP, error) {
	cfg := config{addr: "127.0.0.1:0", algs: []string{RS256, ES256, EdDSA}, now: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	if len(cfg.algs) == 0 {
		return nil, errors.New("start issuer: no algorithms")
	}
	p := &IdP{
		cfg:     cfg,
		active:  map[string]*signingKey{},
		foreign: map[string]*signingKey{},
		done:    make(chan struct{}),
	}
	for _, alg := range cfg.algs {
		k, err := p.newKey(alg)
		if err != nil {
			return nil, fmt.Errorf("start issuer: %w", err)
		}
		p.keys = append(p.keys, k)
		p.active[alg] = k
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("start issuer: %w", err)
	}
	p.ln = ln
	p.url = "http://" + ln.Addr().String()

	mux := http.NewServeMux()
	mux.HandleFunc("GET "+DiscoveryPath, p.serveDiscovery)
	mux.HandleFunc("GET "+JWKSPath, p.serveJWKS)
	p.registerOAuth(mux) // authorize and token: unsupported until EnableLogin
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(p.done)
		_ = p.srv.Serve(ln) // returns http.ErrServerClosed on Close
	}()
	return p, nil
}

// URL is the issuer identifier (the iss claim) and the base of every endpoint.
func (p *IdP) URL() string { return p.url }

// JWKSURL is the jwks_uri that discovery announces.
func (p *IdP) JWKSURL() string { return p.url + JWKSPath }

// Close stops the server and waits for it to exit.
func (p *IdP) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := p.srv.Shutdown(ctx)
	if err != nil {
		err = p.srv.Close()
	}
	<-p.done
	return err
}

// SetDown makes discovery and the JWKS answer 503, as an issuer in an outage.
func (p *IdP) SetDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
}

// JWKSFetches counts JWKS requests, answered or not, so tests can prove
// caching and refetch rate limits.
func (p *IdP) JWKSFetches() int64 { return p.jwksFetches.Load() }

// DiscoveryFetches counts discovery requests.
func (p *IdP) DiscoveryFetches() int64 { return p.discoveryFetches.Load() }

// ActiveKid is the kid Mint signs with by default for alg ("" for the
// default algorithm).
func (p *IdP) ActiveKid(alg string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if alg == "" {
		alg = p.cfg.algs[0]
	}
	if k := p.active[alg]; k != nil {
		return k.kid
	}
	return ""
}

// Kids lists the published key ids in order of creation.
func (p *IdP) Kids() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.keys))
	for _, k := range p.keys {
		out = append(out, k.kid)
	}
	return out
}

// Rotate makes a new key the active one for alg ("" for the default
// algorithm) and returns its kid. The previous key stays published until
// Retire, as providers keep old keys while tokens signed with them live.
func (p *IdP) Rotate(alg string) (string, error) {
	if alg == "" {
		alg = p.cfg.algs[0]
	}
	k, err := p.newKey(alg)
	if err != nil {
		return "", fmt.Errorf("rotate key: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = append(p.keys, k)
	p.active[alg] = k
	return k.kid, nil
}

// Retire stops publishing kid. Tokens signed with it no longer verify once
// a relying party refreshes its key set. It reports whether kid was published.
func (p *IdP) Retire(kid string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, k := range p.keys {
		if k.kid == kid {
			p.keys = slices.Delete(p.keys, i, i+1)
			if p.active[k.alg] == k {
				delete(p.active, k.alg)
			}
			return true
		}
	}
	return false
}

// Claims builds a plausible claim set from this issuer: iss, sub, aud, iat,
// nbf, exp (one hour), email and, when given, groups.
func (p *IdP) Claims(sub, aud string, groups ...string) map[string]any {
	now := p.cfg.now().Unix()
	c := map[string]any{
		"iss":   p.url,
		"sub":   sub,
		"aud":   aud,
		"iat":   now,
		"nbf":   now,
		"exp":   now + 3600,
		"email": sub + "@example.com",
		// The IdP verified every user's address, as Okta and Entra say
		// of managed accounts; mcpguard uses the email as session name
		// only then.
		"email_verified": true,
	}
	if len(groups) > 0 {
		c["groups"] = slices.Clone(groups)
	}
	return c
}

type mintConfig struct {
	alg        string
	kid        *string // header override; pointer so "" means "no kid"
	signingKid string
	foreign    bool
	embedJWK   bool
	headers    [][2]any
}

// MintOption changes how Mint signs.
type MintOption func(*mintConfig)

// WithAlg signs with the active key of alg.
func WithAlg(alg string) MintOption { return func(m *mintConfig) { m.alg = alg } }

// WithSigningKey signs with the published key kid (for example a rotated,
// no longer active key) instead of the active one.
func WithSigningKey(kid string) MintOption { return func(m *mintConfig) { m.signingKid = kid } }

// WithKid puts kid in the header whatever key signs: an unknown kid, or a
// published kid over a signature by another key.
func WithKid(kid string) MintOption { return func(m *mintConfig) { m.kid = &kid } }

// WithoutKid omits the kid header.
func WithoutKid() MintOption {
	return func(m *mintConfig) { empty := ""; m.kid = &empty }
}

// WithForeignKey signs with a key of the same algorithm that the issuer
// never published, keeping the active key's kid in the header unless WithKid
// says otherwise: an attacker's forgery.
func WithForeignKey() MintOption { return func(m *mintConfig) { m.foreign = true } }

// WithEmbeddedJWK puts the signing key's public JWK in the jwk header, the
// self-certifying trick a verifier must ignore.
func WithEmbeddedJWK() MintOption { return func(m *mintConfig) { m.embedJWK = true } }

// WithHeader adds a protected header (jku, x5u, crit, typ, b64, ...).
func WithHeader(name string, value any) MintOption {
	return func(m *mintConfig) { m.headers = append(m.headers, [2]any{name, value}) }
}

// Mint signs claims as a compact JWS, with the active key of the default
// algorithm unless options say otherwise.
func (p *IdP) Mint(claims map[string]any, opts ...MintOption) (string, error) {
	mc := mintConfig{alg: p.cfg.algs[0]}
	for _, o := range opts {
		o(&mc)
	}
	var k *signingKey
	p.mu.Lock()
	switch {
	case mc.signingKid != "":
		for _, c := range p.keys {
			if c.kid == mc.signingKid {
				k = c
			}
		}
	default:
		k = p.active[mc.alg]
	}
	p.mu.Unlock()
	if k == nil {
		return "", fmt.Errorf("mint token: no published key for alg %q / kid %q", mc.alg, mc.signingKid)
	}
	kid := k.kid
	if mc.foreign {
		f, err := p.foreignKey(k.alg)
		if err != nil {
			return "", fmt.Errorf("mint token: %w", err)
		}
		k = f
	}
	if mc.kid != nil {
		kid = *mc.kid
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.TypeKey, "JWT"); err != nil {
		return "", fmt.Errorf("mint token: %w", err)
	}
	if kid != "" {
		if err := hdr.Set(jws.KeyIDKey, kid); err != nil {
			return "", fmt.Errorf("mint token: %w", err)
		}
	}
	if mc.embedJWK {
		if err := hdr.Set(jws.JWKKey, k.pub); err != nil {
			return "", fmt.Errorf("mint token: %w", err)
		}
	}
	for _, h := range mc.headers {
		if err := hdr.Set(h[0].(string), h[1]); err != nil {
			return "", fmt.Errorf("mint token: %w", err)
		}
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("mint token: %w", err)
	}
	tok, err := jws.Sign(payload, jws.WithKey(jwa.SignatureAlgorithm(k.alg), k.priv, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", fmt.Errorf("mint token: %w", err)
	}
	return string(tok), nil
}

// MintNone returns an unsigned token with alg "none" and the active kid, the
// oldest JWT attack.
func (p *IdP) MintNone(claims map[string]any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("mint unsigned token: %w", err)
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, p.ActiveKid("")); err != nil {
		return "", fmt.Errorf("mint unsigned token: %w", err)
	}
	tok, err := jws.Sign(payload, jws.WithInsecureNoSignature(jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", fmt.Errorf("mint unsigned token: %w", err)
	}
	return string(tok), nil
}

// MintHS256WithPublicKey signs claims with HS256 keyed by the PEM (PKIX) of
// the active RSA public key — the algorithm-confusion attack against
// verifiers that let the token choose the algorithm. The header carries the
// RSA key's kid.
func (p *IdP) MintHS256WithPublicKey(claims map[string]any) (string, error) {
	p.mu.Lock()
	k := p.active[RS256]
	p.mu.Unlock()
	if k == nil {
		return "", errors.New("mint hmac token: no active RS256 key")
	}
	der, err := x509.MarshalPKIXPublicKey(k.priv.Public())
	if err != nil {
		return "", fmt.Errorf("mint hmac token: %w", err)
	}
	secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("mint hmac token: %w", err)
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, k.kid); err != nil {
		return "", fmt.Errorf("mint hmac token: %w", err)
	}
	tok, err := jws.Sign(payload, jws.WithKey(jwa.HS256, secret, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", fmt.Errorf("mint hmac token: %w", err)
	}
	return string(tok), nil
}

func (p *IdP) foreignKey(alg string) (*signingKey, error) {
	p.mu.Lock()
	f := p.foreign[alg]
	p.mu.Unlock()
	if f != nil {
		return f, nil
	}
	f, err := p.newKey(alg)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if prev := p.foreign[alg]; prev != nil {
		return prev, nil
	}
	p.foreign[alg] = f
	return f, nil
}

func (p *IdP) newKey(alg string) (*signingKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("generate key: unsupported algorithm %q", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	p.mu.Lock()
	p.seq++
	kid := fmt.Sprintf("%s-%d", strings.ToLower(alg), p.seq)
	p.mu.Unlock()
	pub, err := jwk.FromRaw(priv.Public())
	if err != nil {
		return nil, fmt.Errorf("convert %s key: %w", alg, err)
	}
	for _, kv := range [][2]any{
		{jwk.KeyIDKey, kid},
		{jwk.AlgorithmKey, jwa.SignatureAlgorithm(alg)},
		{jwk.KeyUsageKey, jwk.ForSignature},
	} {
		if err := pub.Set(kv[0].(string), kv[1]); err != nil {
			return nil, fmt.Errorf("label %s key: %w", alg, err)
		}
	}
	return &signingKey{kid: kid, alg: alg, priv: priv, pub: pub}, nil
}

func (p *IdP) isDown(w http.ResponseWriter) bool {
	p.mu.Lock()
	down := p.down
	p.mu.Unlock()
	if down {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Retry-After", "1")
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
	}
	return down
}

func (p *IdP) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	p.discoveryFetches.Add(1)
	if p.isDown(w) {
		return
	}
	doc := map[string]any{
		"issuer":                                p.url,
		"authorization_endpoint":                p.url + AuthorizePath,
		"token_endpoint":                        p.url + TokenPath,
		"jwks_uri":                              p.url + JWKSPath,
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": p.cfg.algs,
		"scopes_supported":                      []string{"openid", "email", "groups"},
		"claims_supported":                      []string{"iss", "sub", "aud", "exp", "iat", "nbf", "email", "groups"},
		"grant_types_supported":                 []string{"authorization_code"},
	}
	writeJSON(w, "public, max-age=3600", doc)
}

func (p *IdP) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	p.jwksFetches.Add(1)
	if p.isDown(w) {
		return
	}
	set := jwk.NewSet()
	p.mu.Lock()
	for _, k := range p.keys {
		if err := set.AddKey(k.pub); err != nil {
			p.mu.Unlock()
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
	}
	p.mu.Unlock()
	writeJSON(w, "public, max-age=300, must-revalidate", set)
}

// serveUnsupported answers the interactive endpoints that discovery lists
// with an OAuth error: tokens come from Mint only.
func (p *IdP) serveUnsupported(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write([]byte(`{"error":"unsupported_grant_type","error_description":"this test issuer mints tokens through its Go API only"}`))
}

func writeJSON(w http.ResponseWriter, cacheControl string, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", cacheControl)
	_, _ = w.Write(body)
}
