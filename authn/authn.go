package authn

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/mcpguard/mcpguard"
)

// maxTokenBytes bounds the compact token; identity provider tokens with
// large group lists stay well below it, and Envoy's header limit is 60 KiB.
const maxTokenBytes = 32 << 10

// Input is what Authenticate needs from a request.
type Input struct {
	// Authorization is the raw Authorization header value.
	Authorization string
	// AuthorizationCount is how many Authorization headers arrived; more
	// than one is rejected (which one would the signer and STS see?). Zero
	// means one when Authorization is non-empty, none otherwise.
	AuthorizationCount int
	// Metadata is Envoy's filter_metadata["envoy.filters.http.jwt_authn"]
	// as a map (structpb.Struct.AsMap), nil when absent. Used only in
	// envoy_metadata mode.
	Metadata map[string]any
}

// Authenticator validates bearer tokens for one issuer. It is safe for
// concurrent use; the hot path reads an immutable key-set snapshot.
type Authenticator struct {
	o            Options
	log          *slog.Logger
	algs         map[string]bool
	required     []string // sub, iss and Options.RequiredClaims
	validateOpts []jwt.ValidateOption
	cache        *tokenCache
	iss          issuerMatcher

	prm     []byte
	prmURL  string
	prmPath string

	keys       atomic.Pointer[keySet]
	discovered atomic.Pointer[string]

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu           sync.Mutex
	inflight     *fetchCall
	lastOnDemand time.Time // last fetch triggered by an unknown kid (rate-limited)
	closed       bool

	// verifications counts signature verifications, so tests can prove
	// that cached tokens skip the crypto.
	verifications atomic.Int64
}

// New validates o and starts fetching the issuer's key set in the
// background, tied to ctx (and Close). It does not fail when the issuer is
// unreachable: Ready turns true once a key set has been fetched, and until
// then Authenticate answers jwks_unavailable (KindUnavailable: 503).
func New(ctx context.Context, o Options) (*Authenticator, error) {
	o, err := o.normalize()
	if err != nil {
		return nil, err
	}
	a := &Authenticator{o: o, log: o.Logger, algs: map[string]bool{}, cache: newTokenCache(o.CacheSize)}
	for _, alg := range o.AllowedAlgorithms {
		a.algs[alg] = true
	}
	a.required = append([]string{jwt.SubjectKey, jwt.IssuerKey}, o.RequiredClaims...)
	a.iss, _ = newIssuerMatcher(o.Issuer, o.Tenants) // checked by normalize
	a.validateOpts = []jwt.ValidateOption{
		jwt.WithClock(jwt.ClockFunc(o.Now)),
		jwt.WithAcceptableSkew(o.ClockSkew),
		jwt.WithValidator(jwt.ValidatorFunc(a.validateIssuer)),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
		jwt.WithRequiredClaim(jwt.SubjectKey),
		jwt.WithValidator(jwt.ValidatorFunc(a.validateAudience)),
		jwt.WithValidator(jwt.ValidatorFunc(validateExpNonZero)),
	}
	if o.Resource != "" {
		if a.prmURL, a.prmPath, err = resourceMetadataURL(o.Resource); err != nil {
			return nil, fmt.Errorf("invalid authn options: %w", err)
		}
		if a.prm, err = buildResourceMetadata(o); err != nil {
			return nil, err
		}
	}
	// Both token sources verify the bearer token against the issuer's
	// keys: in envoy_metadata mode jwt_authn's payload is a hint that must
	// agree with the verified token, never a substitute for it.
	a.ctx, a.cancel = context.WithCancel(ctx)
	a.wg.Add(1)
	go a.refreshLoop() //nolint:contextcheck // key refresh lives as long as the authenticator, not a request
	return a, nil
}

// Ready reports whether a key set has been fetched, for readiness probes.
func (a *Authenticator) Ready() bool {
	return a.keys.Load() != nil
}

// Refresh fetches the key set now, ignoring the rate limit, for operators
// (signal handlers) and tests. On failure the previous keys stay in use.
// Its answer is a fetch's that began after the call: a fetch already in
// flight (the startup one, say) is waited for first, since what it got
// may predate whatever made the caller refresh.
func (a *Authenticator) Refresh(ctx context.Context) error {
	a.mu.Lock()
	prior := a.inflight
	a.mu.Unlock()
	if prior != nil {
		select {
		case <-prior.done:
		case <-ctx.Done():
			return fmt.Errorf("refresh jwks: %w", ctx.Err())
		}
	}
	c := a.startFetch(false) //nolint:contextcheck // a fetch is shared by every waiting request; none may cancel it
	if c == nil {
		return errors.New("refresh jwks: authenticator closed")
	}
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return fmt.Errorf("refresh jwks: %w", ctx.Err())
	}
}

// Close stops background refreshes and waits for them to end.
func (a *Authenticator) Close() {
	if a.cancel == nil {
		return
	}
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	a.cancel()
	a.wg.Wait()
}

// Authenticate validates the request's credentials and returns the caller's
// identity. Every error is a *mcpguard.Error of KindUnauthenticated whose
// Reason is one of Reasons().
func (a *Authenticator) Authenticate(ctx context.Context, in Input) (*Identity, error) {
	raw, err := bearerField(in)
	if err != nil {
		return nil, err
	}
	id := a.cache.get(raw, a.o.Now())
	if id == nil {
		if err := compactJWS(raw); err != nil {
			return nil, err
		}
	}
	mdClaims, err := a.metadataClaims(in)
	if err != nil {
		return nil, err
	}
	if id == nil {
		var key *verKey
		if id, key, err = a.verify(ctx, raw, tokenDigest(raw)); err != nil {
			return nil, err
		}
		a.cache.put(id, a, key.kid, key.thumb)
	}
	if err := a.agreeMetadata(mdClaims, id); err != nil {
		return nil, err
	}
	return id, nil
}

// metadataClaims returns jwt_authn's payload in envoy_metadata mode (nil
// in header mode). It is checked before the signature so that a request
// Envoy did not vouch for costs no verification.
func (a *Authenticator) metadataClaims(in Input) (map[string]any, error) {
	if a.o.TokenSource != SourceEnvoyMetadata {
		return nil, nil
	}
	md, _ := in.Metadata[a.o.MetadataKey].(map[string]any)
	if md == nil {
		return nil, fail(ReasonMetadataMissing, "verified identity missing", errors.New("no jwt_authn payload in metadata"))
	}
	return md, nil
}

// agreeMetadata checks jwt_authn's payload, when there is one, against
// the verified identity.
func (a *Authenticator) agreeMetadata(md map[string]any, id *Identity) error {
	if md == nil {
		return nil
	}
	return agree(md, id.Claims)
}

// tokenDigest is SHA-256 of the raw token. Tokens of usual size are
// copied to the stack rather than converted to a heap []byte, so a cache
// hit (the path every request of a known client takes) allocates nothing.
func tokenDigest(raw string) [sha256.Size]byte {
	var buf [2048]byte
	if len(raw) <= len(buf) {
		n := copy(buf[:], raw)
		return sha256.Sum256(buf[:n])
	}
	return sha256.Sum256([]byte(raw))
}

// jwtChar marks the bytes of a compact JWS: base64url and the dots.
var jwtChar = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	t['-'], t['_'], t['.'] = true, true, true
	return t
}()

// bearerToken extracts the token of "Bearer <token>" (RFC 6750 §2.1, the
// scheme case-insensitive), insisting on exactly one Authorization header
// and the base64url-and-dots alphabet of a compact JWS: bearerField, then
// compactJWS.
func bearerToken(in Input) (string, error) {
	tok, err := bearerField(in)
	if err != nil {
		return "", err
	}
	return tok, compactJWS(tok)
}

// bearerField is bearerToken's checks of the Authorization header: one
// line, of bounded size, the Bearer scheme and a token. A token found in
// the verified-token cache is the very string that once passed compactJWS
// too, so a cache hit skips that scan of every byte (most of a cached
// authentication); any other token is scanned before anything else reads
// it.
func bearerField(in Input) (string, error) {
	n := in.AuthorizationCount
	if n == 0 && in.Authorization != "" {
		n = 1
	}
	switch {
	case n == 0 || strings.TrimSpace(in.Authorization) == "":
		return "", fail(ReasonMissing, "missing bearer token", nil)
	case n > 1 || strings.Contains(in.Authorization, ","):
		return "", fail(ReasonMalformed, "multiple authorization headers", nil)
	case len(in.Authorization) > maxTokenBytes+64:
		return "", fail(ReasonMalformed, "bearer token too large", nil)
	}
	scheme, rest, _ := strings.Cut(in.Authorization, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", fail(ReasonMissing, "bearer token required", nil)
	}
	tok := strings.TrimLeft(rest, " ")
	if tok == "" {
		return "", fail(ReasonMalformed, "malformed bearer token", nil)
	}
	return tok, nil
}

// compactJWS checks the alphabet and the two dots of a compact JWS.
func compactJWS(tok string) error {
	for i := 0; i < len(tok); i++ {
		if !jwtChar[tok[i]] {
			return fail(ReasonMalformed, "malformed bearer token", nil)
		}
	}
	if strings.Count(tok, ".") != 2 {
		return fail(ReasonMalformed, "bearer token is not a JWT", nil)
	}
	return nil
}

// verify checks the token's signature against the issuer's key set and
// validates its claims. It returns the key that verified it.
func (a *Authenticator) verify(ctx context.Context, raw string, digest [sha256.Size]byte) (*Identity, *verKey, error) {
	msg, err := jws.Parse([]byte(raw), jws.WithCompact())
	if err != nil {
		return nil, nil, fail(ReasonMalformed, "malformed token", fmt.Errorf("parse jws: %w", err))
	}
	sigs := msg.Signatures()
	if len(sigs) != 1 {
		return nil, nil, fail(ReasonMalformed, "malformed token", errors.New("want exactly one signature"))
	}
	hdr := sigs[0].ProtectedHeaders()
	alg := hdr.Algorithm().String()
	if !a.algs[alg] {
		return nil, nil, fail(ReasonBadAlgorithm, "token algorithm not accepted", fmt.Errorf("alg %q not allowed", truncate(alg)))
	}
	// RFC 7515 §4.1.11: a crit extension we do not understand makes the
	// token invalid. We understand none; b64=false (RFC 7797) changes what
	// is signed, so it is refused even without crit.
	if _, ok := hdr.Get(jws.CriticalKey); ok {
		return nil, nil, fail(ReasonBadHeader, "token has unsupported critical header", nil)
	}
	if _, ok := hdr.Get("b64"); ok {
		return nil, nil, fail(ReasonBadHeader, "token has unsupported critical header", errors.New("b64 header"))
	}
	keys, err := a.keysFor(ctx, hdr.KeyID(), alg)
	if err != nil {
		return nil, nil, err
	}
	verifier, err := jws.NewVerifier(jwa.SignatureAlgorithm(alg))
	if err != nil {
		return nil, nil, fail(ReasonBadAlgorithm, "token algorithm not accepted", err)
	}
	signingInput := []byte(raw[:strings.LastIndexByte(raw, '.')])
	var used *verKey
	var verr error
	for _, k := range keys {
		a.verifications.Add(1)
		if verr = verifier.Verify(signingInput, sigs[0].Signature(), k.raw); verr == nil {
			used = k
			break
		}
	}
	if used == nil {
		return nil, nil, fail(ReasonBadSignature, "token signature invalid", verr)
	}
	claims, tok, err := decodeClaims(msg.Payload())
	if err != nil {
		return nil, nil, err
	}
	if err := a.validate(tok); err != nil {
		return nil, nil, err
	}
	id, err := a.identity(raw, digest, claims, tok)
	if err != nil {
		return nil, nil, err
	}
	return id, used, nil
}

// keysFor finds the verification keys for kid/alg. An unknown kid, or no
// key set at all, triggers one rate-limited refetch: issuers publish new
// keys before signing with them, so a fresh fetch finds a rotated key.
func (a *Authenticator) keysFor(ctx context.Context, kid, alg string) ([]*verKey, error) {
	ks := a.keys.Load()
	if ks == nil {
		a.refetch(ctx)
		if ks = a.keys.Load(); ks == nil {
			// Not the client's fault: a 401 would send it to log in
			// again for nothing. 503 with Retry-After says wait.
			return nil, &mcpguard.Error{
				Kind:   mcpguard.KindUnavailable,
				Msg:    "the identity provider's signing keys are not available yet; try again later",
				Err:    errors.New("no key set fetched yet"),
				Reason: ReasonJWKSUnavailable,
			}
		}
	}
	keys, known := ks.find(kid, alg)
	if len(keys) == 0 && !known && a.refetch(ctx) {
		keys, known = a.keys.Load().find(kid, alg)
	}
	switch {
	case len(keys) > 0:
		return keys, nil
	case known:
		return nil, fail(ReasonBadAlgorithm, "token algorithm does not match its key", fmt.Errorf("kid %q cannot verify %s", truncate(kid), alg))
	case kid == "":
		return nil, fail(ReasonUnknownKey, "token has no key id", nil)
	default:
		return nil, fail(ReasonUnknownKey, "token signed by unknown key", fmt.Errorf("kid %q not in key set", truncate(kid)))
	}
}

// decodeClaims decodes a JSON object payload twice: into plain JSON types
// for Identity.Claims, and into a jwt.Token for jwx's validators.
func decodeClaims(payload []byte) (map[string]any, jwt.Token, error) {
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil || claims == nil {
		if err == nil {
			err = errors.New("payload is null")
		}
		return nil, nil, fail(ReasonMalformed, "malformed token claims", fmt.Errorf("decode claims: %w", err))
	}
	tok := jwt.New()
	if err := json.Unmarshal(payload, tok); err != nil {
		return nil, nil, fail(ReasonMalformed, "malformed token claims", fmt.Errorf("decode registered claims: %w", err))
	}
	return claims, tok, nil
}

// validate applies the time, issuer, audience and required-claim checks.
func (a *Authenticator) validate(tok jwt.Token) error {
	err := jwt.Validate(tok, a.validateOpts...)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jwt.ErrTokenExpired()):
		return fail(ReasonExpired, "token expired", err)
	case errors.Is(err, jwt.ErrTokenNotYetValid()):
		return fail(ReasonNotYetValid, "token not yet valid", err)
	case errors.Is(err, jwt.ErrInvalidIssuedAt()):
		return fail(ReasonNotYetValid, "token issued in the future", err)
	case errors.Is(err, jwt.ErrInvalidIssuer()):
		return fail(ReasonBadIssuer, "token issuer not accepted", err)
	case errors.Is(err, jwt.ErrInvalidAudience()):
		return fail(ReasonBadAudience, "token audience not accepted", err)
	case errors.Is(err, jwt.ErrRequiredClaim()):
		return fail(ReasonMissingClaim, "token lacks a required claim", err)
	default:
		return fail(ReasonMalformed, "token claims invalid", err)
	}
}

// validateIssuer accepts the exact issuer, or an iss of the template's
// form whose tenant is allowed.
func (a *Authenticator) validateIssuer(_ context.Context, tok jwt.Token) jwt.ValidationError {
	if _, ok := a.iss.match(tok.Issuer()); !ok {
		return jwt.ErrInvalidIssuer()
	}
	return nil
}

// validateAudience accepts a token whose aud contains any configured audience.
func (a *Authenticator) validateAudience(_ context.Context, tok jwt.Token) jwt.ValidationError {
	for _, got := range tok.Audience() {
		for _, want := range a.o.Audiences {
			if got == want {
				return nil
			}
		}
	}
	return jwt.ErrInvalidAudience()
}

// validateExpNonZero closes a gap in jwx, which treats exp = 0 as absent
// and so would accept such a token forever.
func validateExpNonZero(_ context.Context, tok jwt.Token) jwt.ValidationError {
	if tok.Expiration().Unix() <= 0 {
		return jwt.ErrTokenExpired()
	}
	return nil
}

// MaxClaimBytes bounds sub, iss and every required claim: an identity is
// a Cedar principal, a session name and a cache key, and none of them
// should be a megabyte.
const MaxClaimBytes = 1024

// identity builds the Identity of validated claims. It is the one place
// every token passes (header and envoy_metadata mode alike), so the rules
// on what an identity is are closed here: sub, iss and the configured
// required claims are non-empty strings of at most MaxClaimBytes, and the
// group claim reads whole (GroupsFromClaims).
func (a *Authenticator) identity(raw string, digest [sha256.Size]byte, claims map[string]any, tok jwt.Token) (*Identity, error) {
	for _, c := range a.required {
		if err := checkStringClaim(claims, c); err != nil {
			return nil, fail(ReasonInvalidClaim, "token claim "+truncate(c)+" is not a valid identifier", err)
		}
	}
	var groups []string
	if a.o.Name == "" {
		// A groups overage is the same clear 403 as a provider's
		// (applyMapping): the list was cut by the IdP, not malformed.
		if a.o.GroupClaim != "" {
			if err := overage(claims, a.o.GroupClaim); err != nil {
				return nil, err
			}
		}
		var err error
		if groups, err = GroupsFromClaims(claims, a.o.GroupClaim); err != nil {
			return nil, fail(ReasonBadGroups, "token groups cannot be read whole", err)
		}
	}
	for _, c := range a.o.ExtraGroupClaims {
		if c == a.o.GroupClaim {
			continue
		}
		if err := overage(claims, c); err != nil {
			return nil, err
		}
		if _, err := GroupsFromClaims(claims, c); err != nil {
			return nil, fail(ReasonBadGroups, "token groups cannot be read whole", err)
		}
	}
	email, _ := claims["email"].(string)
	id := &Identity{
		Subject:     tok.Subject(),
		Issuer:      tok.Issuer(),
		UserKey:     tok.Subject(),
		Email:       email,
		Groups:      groups,
		Claims:      claims,
		ExpiresAt:   tok.Expiration(),
		Token:       Token(strings.Clone(raw)), // raw may share a request's header buffer
		TokenDigest: digest,
	}
	if a.o.Name == "" {
		return id, nil
	}
	return a.providerIdentity(id)
}

// providerIdentity completes the identity of a named provider: the tenant
// (which must agree with the token's tid), the provider-qualified user
// key, and what the claim mapping reads.
func (a *Authenticator) providerIdentity(id *Identity) (*Identity, error) {
	tenant, _ := a.iss.match(id.Issuer)
	id.Provider = a.o.Name
	id.UserKey = a.o.Name + "|" + id.Subject
	if tenant != "" {
		// Microsoft: validate that tid is the tenant the issuer names,
		// so one tenant's token is never read as another's.
		if tid, _ := id.Claims["tid"].(string); tid != tenant {
			return nil, fail(ReasonBadIssuer, "token issuer not accepted", errors.New("tid does not match the tenant of iss"))
		}
		id.Tenant = tenant
		id.UserKey = a.o.Name + "/" + tenant + "|" + id.Subject
	}
	m, err := a.applyMapping(id.Claims)
	if err != nil {
		return nil, err
	}
	id.Groups, id.Roles, id.Scopes, id.SessionName = m.groups, m.roles, m.scopes, m.sessionName
	return id, nil
}

// checkStringClaim insists on claims[name] being a non-empty, valid UTF-8
// string of at most MaxClaimBytes.
func checkStringClaim(claims map[string]any, name string) error {
	v, ok := claims[name]
	if !ok {
		return fmt.Errorf("claim %q is absent", truncate(name))
	}
	s, ok := v.(string)
	switch {
	case !ok:
		return fmt.Errorf("claim %q is a %s, not a string", truncate(name), jsonType(v))
	case s == "":
		return fmt.Errorf("claim %q is empty", truncate(name))
	case len(s) > MaxClaimBytes:
		return fmt.Errorf("claim %q is longer than %d bytes", truncate(name), MaxClaimBytes)
	case !utf8.ValidString(s):
		return fmt.Errorf("claim %q is not valid UTF-8", truncate(name))
	}
	return nil
}

// agree checks that jwt_authn's payload (envoy_metadata mode) describes
// the token mcpguard itself verified: the same iss, sub, aud and exp. The
// identity always comes from the verified token; the metadata only has to
// agree with it. Without the check a different token in the header than
// the one Envoy verified (allow_missing_or_failed rules, several providers,
// a token taken from another header) would go unnoticed, and a peer that
// forges the metadata gains nothing it could not get from the token alone.
func agree(md, verified map[string]any) error {
	for _, c := range []string{jwt.IssuerKey, jwt.SubjectKey, jwt.ExpirationKey} {
		mv, ok1 := md[c]
		hv, ok2 := verified[c]
		if !ok1 || !ok2 || !sameScalar(mv, hv) {
			return fail(ReasonMetadataMismatch, "token does not match verified identity", fmt.Errorf("claim %q differs", c))
		}
	}
	ma, ok1 := audiences(md[jwt.AudienceKey])
	va, ok2 := audiences(verified[jwt.AudienceKey])
	if !ok1 || !ok2 || !slices.Equal(ma, va) {
		return fail(ReasonMetadataMismatch, "token does not match verified identity", errors.New(`claim "aud" differs`))
	}
	return nil
}

// audiences reads aud (a string or an array of strings, RFC 7519 §4.1.3)
// as a sorted, de-duplicated list, so ["a"] and "a" agree.
func audiences(v any) ([]string, bool) {
	var out []string
	switch a := v.(type) {
	case string:
		out = []string{a}
	case []any:
		for _, e := range a {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
	default:
		return nil, false
	}
	if len(out) == 0 {
		return nil, false
	}
	slices.Sort(out)
	return slices.Compact(out), true
}

// sameScalar compares two decoded JSON scalars (string or number).
func sameScalar(x, y any) bool {
	switch xv := x.(type) {
	case string:
		yv, ok := y.(string)
		return ok && xv == yv
	case float64:
		yv, ok := y.(float64)
		return ok && xv == yv
	}
	return false
}

// truncate bounds attacker-chosen header values before they reach a log.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
