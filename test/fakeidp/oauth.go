package fakeidp

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Paths of the authorization server that EnableLogin turns on.
const (
	AuthServerMetadataPath = "/.well-known/oauth-authorization-server"
	RegisterPath           = "/register"
	LoginPath              = "/login"
)

// Lifetimes of what the authorization server issues. Codes are short-lived
// and single-use (RFC 6749 §4.1.2); pending logins last as long as a person
// may take to pick a user.
const (
	codeLifetime    = time.Minute
	pendingLifetime = 10 * time.Minute
	accessLifetime  = time.Hour
	maxClients      = 1000
	maxPending      = 1000
)

// LoginUser is a person the login page offers.
type LoginUser struct {
	// Name is the user's sub and the value the login form posts.
	Name string
	// Label is what the login page shows, for example "Alice (s3-readers)".
	Label string
}

// LoginConfig turns the issuer into an OAuth 2.1 authorization server for
// MCP clients: RFC 8414 metadata, RFC 7591 dynamic client registration,
// authorization code with PKCE S256 only, a login page to pick a user, and
// rotating refresh tokens.
type LoginConfig struct {
	// Users are the people the login page offers, in order.
	Users []LoginUser
	// Claims returns the access token claims of a user, so tokens have
	// exactly the shape the relying party already accepts from Mint.
	Claims func(user string) map[string]any
}

type oauthClient struct {
	id           string
	name         string
	redirectURIs []string
}

type authRequest struct {
	clientID, redirectURI, challenge, state, scope, resource string
	expires                                                  time.Time
}

type authCode struct {
	authRequest
	user    string
	expires time.Time
	used    bool
	family  string // refresh-token family issued from this code
}

type refreshToken struct {
	clientID, user, scope, resource, family string
	used                                    bool
}

// oauthServer is the state of the authorization server.
type oauthServer struct {
	cfg LoginConfig

	mu       sync.Mutex
	clients  map[string]*oauthClient
	pending  map[string]*authRequest
	codes    map[string]*authCode
	refresh  map[string]*refreshToken
	families map[string]bool // revoked families
	issued   int             // access tokens issued, for tests
}

// EnableLogin turns on the authorization server. Until it is called the
// authorization and token endpoints answer unsupported_grant_type, as
// before: tokens come from Mint only.
func (p *IdP) EnableLogin(cfg LoginConfig) error {
	if len(cfg.Users) == 0 || cfg.Claims == nil {
		return errors.New("enable login: users and claims are required")
	}
	o := &oauthServer{
		cfg:      cfg,
		clients:  map[string]*oauthClient{},
		pending:  map[string]*authRequest{},
		codes:    map[string]*authCode{},
		refresh:  map[string]*refreshToken{},
		families: map[string]bool{},
	}
	p.mu.Lock()
	p.oauth = o
	p.mu.Unlock()
	return nil
}

// TokensIssued counts access tokens the token endpoint issued (by code or
// refresh), so tests can prove a client logged in rather than reused a token.
func (p *IdP) TokensIssued() int {
	o := p.oauthState()
	if o == nil {
		return 0
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.issued
}

func (p *IdP) oauthState() *oauthServer {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.oauth
}

// registerOAuth adds the authorization server's routes to mux. Each answers
// as a server without them (404, or unsupported_grant_type for the
// endpoints OIDC discovery always listed) until EnableLogin.
func (p *IdP) registerOAuth(mux *http.ServeMux) {
	mux.HandleFunc(AuthServerMetadataPath, cors(p.serveASMetadata))
	mux.HandleFunc(RegisterPath, cors(p.serveRegister))
	mux.HandleFunc(AuthorizePath, p.serveAuthorize)
	mux.HandleFunc(LoginPath, p.serveLogin)
	mux.HandleFunc(TokenPath, cors(p.serveToken))
}

// cors lets browser-based clients (the MCP Inspector's web UI) read the
// metadata, register and redeem codes from another origin, as public-client
// authorization servers do; the login page itself is never readable
// cross-origin. A preflight is answered with 204.
func cors(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodOptions {
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST")
			w.Header().Set("Access-Control-Allow-Headers", "Content-Type, Authorization, MCP-Protocol-Version")
			w.Header().Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next(w, r)
	}
}

func (p *IdP) asMetadata() map[string]any {
	return map[string]any{
		"issuer":                                         p.url,
		"authorization_endpoint":                         p.url + AuthorizePath,
		"token_endpoint":                                 p.url + TokenPath,
		"registration_endpoint":                          p.url + RegisterPath,
		"jwks_uri":                                       p.url + JWKSPath,
		"response_types_supported":                       []string{"code"},
		"response_modes_supported":                       []string{"query"},
		"grant_types_supported":                          []string{"authorization_code", "refresh_token"},
		"code_challenge_methods_supported":               []string{"S256"},
		"token_endpoint_auth_methods_supported":          []string{"none"},
		"scopes_supported":                               []string{"openid", "email", "groups", "offline_access"},
		"authorization_response_iss_parameter_supported": true,
	}
}

func (p *IdP) serveASMetadata(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if p.oauthState() == nil {
		http.NotFound(w, r)
		return
	}
	if p.isDown(w) {
		return
	}
	writeJSON(w, "public, max-age=3600", p.asMetadata())
}

// oauthError writes an RFC 6749 §5.2 error response.
func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="fakeidp"`)
	}
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"error": code, "error_description": desc})
	_, _ = w.Write(b)
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

// validRedirectURI accepts what RFC 8252 and OAuth 2.1 allow a public
// client: https anywhere, http only on a loopback host; no fragment.
func validRedirectURI(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Fragment != "" || u.Host == "" || u.User != nil {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		h := u.Hostname()
		return h == "127.0.0.1" || h == "localhost" || h == "::1"
	}
	return false
}

// serveRegister is RFC 7591 dynamic client registration for public clients.
func (p *IdP) serveRegister(w http.ResponseWriter, r *http.Request) {
	o := p.oauthState()
	if o == nil {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "registration takes a POST")
		return
	}
	if mt, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); strings.TrimSpace(strings.ToLower(mt)) != "application/json" {
		oauthError(w, http.StatusBadRequest, "invalid_client_metadata", "the body must be application/json")
		return
	}
	var md struct {
		RedirectURIs            []string `json:"redirect_uris"`
		ClientName              string   `json:"client_name"`
		TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
		GrantTypes              []string `json:"grant_types"`
		ResponseTypes           []string `json:"response_types"`
		Scope                   string   `json:"scope"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&md); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_client_metadata", "the body is not a JSON client metadata document")
		return
	}
	if len(md.RedirectURIs) == 0 {
		oauthError(w, http.StatusBadRequest, "invalid_redirect_uri", "redirect_uris is required")
		return
	}
	for _, u := range md.RedirectURIs {
		if !validRedirectURI(u) {
			oauthError(w, http.StatusBadRequest, "invalid_redirect_uri", "redirect URIs must be https, or http on a loopback host, without a fragment")
			return
		}
	}
	if m := md.TokenEndpointAuthMethod; m != "" && m != "none" {
		oauthError(w, http.StatusBadRequest, "invalid_client_metadata", "only public clients (token_endpoint_auth_method none) are supported")
		return
	}
	for _, g := range md.GrantTypes {
		if g != "authorization_code" && g != "refresh_token" {
			oauthError(w, http.StatusBadRequest, "invalid_client_metadata", "unsupported grant type "+g)
			return
		}
	}
	for _, rt := range md.ResponseTypes {
		if rt != "code" {
			oauthError(w, http.StatusBadRequest, "invalid_client_metadata", "unsupported response type "+rt)
			return
		}
	}
	c := &oauthClient{id: randomToken(), name: md.ClientName, redirectURIs: slices.Clone(md.RedirectURIs)}
	o.mu.Lock()
	if len(o.clients) >= maxClients {
		o.mu.Unlock()
		oauthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "too many registered clients")
		return
	}
	o.clients[c.id] = c
	o.mu.Unlock()
	resp := map[string]any{
		"client_id":                  c.id,
		"client_id_issued_at":        p.cfg.now().Unix(),
		"client_name":                c.name,
		"redirect_uris":              c.redirectURIs,
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"token_endpoint_auth_method": "none",
	}
	if md.Scope != "" {
		resp["scope"] = md.Scope
	}
	body, _ := json.Marshal(resp)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(body)
}

// isPKCEValue reports whether s is a PKCE verifier or S256 challenge: 43 to
// 128 characters of [A-Za-z0-9-._~] (RFC 7636 §4.1, §4.2).
func isPKCEValue(s string) bool {
	if len(s) < 43 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// s256 is the S256 code challenge of verifier (RFC 7636 §4.2).
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// single returns the only value of a parameter; a repeated parameter is an
// error (RFC 6749 §3.1: parameters must not be included more than once).
func single(v url.Values, name string) (string, error) {
	switch len(v[name]) {
	case 0:
		return "", nil
	case 1:
		return v[name][0], nil
	}
	return "", fmt.Errorf("%s is repeated", name)
}

// redirectError sends the client back with an error (RFC 6749 §4.1.2.1),
// which is safe only once client_id and redirect_uri are known good.
func (p *IdP) redirectError(w http.ResponseWriter, r *http.Request, redirectURI, state, code, desc string) {
	u, _ := url.Parse(redirectURI)
	q := u.Query()
	q.Set("error", code)
	q.Set("error_description", desc)
	if state != "" {
		q.Set("state", state)
	}
	q.Set("iss", p.url)
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// serveAuthorize validates an authorization request and shows the login
// page. Errors that make the redirect URI untrustworthy are shown to the
// person (400), never redirected.
func (p *IdP) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	o := p.oauthState()
	if o == nil {
		p.serveUnsupported(w, r)
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		loginPage(w, http.StatusMethodNotAllowed, "The authorization endpoint takes a GET.", nil, "")
		return
	}
	q := r.URL.Query()
	get := func(name string) string { s, _ := single(q, name); return s }
	for _, name := range []string{"client_id", "redirect_uri", "response_type", "code_challenge", "code_challenge_method", "state", "scope", "resource"} {
		if _, err := single(q, name); err != nil {
			loginPage(w, http.StatusBadRequest, "Invalid authorization request: "+err.Error()+".", nil, "")
			return
		}
	}
	clientID, redirectURI := get("client_id"), get("redirect_uri")
	o.mu.Lock()
	c := o.clients[clientID]
	o.mu.Unlock()
	if c == nil {
		loginPage(w, http.StatusBadRequest, "Unknown client_id: register the client first.", nil, "")
		return
	}
	if redirectURI == "" && len(c.redirectURIs) == 1 {
		redirectURI = c.redirectURIs[0]
	}
	if !slices.Contains(c.redirectURIs, redirectURI) {
		loginPage(w, http.StatusBadRequest, "The redirect_uri is not one the client registered.", nil, "")
		return
	}
	state := get("state")
	if get("response_type") != "code" {
		p.redirectError(w, r, redirectURI, state, "unsupported_response_type", "only response_type=code is supported")
		return
	}
	challenge, method := get("code_challenge"), get("code_challenge_method")
	switch {
	case challenge == "":
		p.redirectError(w, r, redirectURI, state, "invalid_request", "code_challenge is required (PKCE)")
		return
	case method != "S256":
		p.redirectError(w, r, redirectURI, state, "invalid_request", "code_challenge_method must be S256")
		return
	case !isPKCEValue(challenge) || len(challenge) != 43:
		p.redirectError(w, r, redirectURI, state, "invalid_request", "code_challenge is not an S256 challenge")
		return
	}
	req := &authRequest{
		clientID: clientID, redirectURI: redirectURI, challenge: challenge,
		state: state, scope: get("scope"), resource: get("resource"),
		expires: p.cfg.now().Add(pendingLifetime),
	}
	id := randomToken()
	o.mu.Lock()
	o.expire(p.cfg.now())
	if len(o.pending) >= maxPending {
		o.mu.Unlock()
		p.redirectError(w, r, redirectURI, state, "temporarily_unavailable", "too many pending logins")
		return
	}
	o.pending[id] = req
	o.mu.Unlock()
	name := c.name
	if name == "" {
		name = "An MCP client"
	}
	loginPage(w, http.StatusOK, name+" asks to act as you at "+orDefault(req.resource, "this server")+".", o.cfg.Users, id)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// expire drops pending logins and codes past their life. o.mu is held.
func (o *oauthServer) expire(now time.Time) {
	for k, v := range o.pending {
		if now.After(v.expires) {
			delete(o.pending, k)
		}
	}
	for k, v := range o.codes {
		if now.After(v.expires) {
			delete(o.codes, k)
		}
	}
}

// serveLogin takes the login form: the pending request and the user picked.
func (p *IdP) serveLogin(w http.ResponseWriter, r *http.Request) {
	o := p.oauthState()
	if o == nil {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		loginPage(w, http.StatusMethodNotAllowed, "The login form takes a POST.", nil, "")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		loginPage(w, http.StatusBadRequest, "The login form could not be read.", nil, "")
		return
	}
	id, err1 := single(r.PostForm, "request")
	user, err2 := single(r.PostForm, "user")
	if err := errors.Join(err1, err2); err != nil {
		loginPage(w, http.StatusBadRequest, "Invalid login form: "+err.Error()+".", nil, "")
		return
	}
	if !slices.ContainsFunc(o.cfg.Users, func(u LoginUser) bool { return u.Name == user }) {
		loginPage(w, http.StatusBadRequest, "Unknown user.", nil, "")
		return
	}
	now := p.cfg.now()
	o.mu.Lock()
	o.expire(now)
	req := o.pending[id]
	delete(o.pending, id) // one login per request, whatever happens next
	var code string
	if req != nil {
		code = randomToken()
		o.codes[code] = &authCode{authRequest: *req, user: user, expires: now.Add(codeLifetime)}
	}
	o.mu.Unlock()
	if req == nil {
		loginPage(w, http.StatusBadRequest, "This login request is unknown or expired: start again from your client.", nil, "")
		return
	}
	u, _ := url.Parse(req.redirectURI)
	q := u.Query()
	q.Set("code", code)
	if req.state != "" {
		q.Set("state", req.state)
	}
	q.Set("iss", p.url) // RFC 9207
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// serveToken is the token endpoint: authorization_code with PKCE, and
// refresh_token with rotation and reuse detection.
func (p *IdP) serveToken(w http.ResponseWriter, r *http.Request) {
	o := p.oauthState()
	if o == nil {
		p.serveUnsupported(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "the token endpoint takes a POST")
		return
	}
	if mt, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); strings.TrimSpace(strings.ToLower(mt)) != "application/x-www-form-urlencoded" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "the form could not be read")
		return
	}
	if len(r.URL.RawQuery) > 0 {
		oauthError(w, http.StatusBadRequest, "invalid_request", "token requests carry their parameters in the body")
		return
	}
	f := map[string]string{}
	for _, name := range []string{"grant_type", "code", "redirect_uri", "client_id", "code_verifier", "refresh_token", "resource", "scope"} {
		v, err := single(r.PostForm, name)
		if err != nil {
			oauthError(w, http.StatusBadRequest, "invalid_request", err.Error())
			return
		}
		f[name] = v
	}
	if _, _, ok := r.BasicAuth(); ok {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "clients are public: no client authentication")
		return
	}
	o.mu.Lock()
	c := o.clients[f["client_id"]]
	o.mu.Unlock()
	if c == nil {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "unknown client_id")
		return
	}
	switch f["grant_type"] {
	case "authorization_code":
		p.grantCode(w, o, f)
	case "refresh_token":
		p.grantRefresh(w, o, f)
	case "":
		oauthError(w, http.StatusBadRequest, "invalid_request", "grant_type is required")
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "supported: authorization_code, refresh_token")
	}
}

// grant is what a token request may be issued, or why not.
type grant struct {
	clientID, user, scope, resource, family string
	errCode, errDesc                        string
}

func (p *IdP) grantCode(w http.ResponseWriter, o *oauthServer, f map[string]string) {
	verifier := f["code_verifier"]
	if verifier == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "code_verifier is required (PKCE)")
		return
	}
	if !isPKCEValue(verifier) {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "code_verifier is malformed")
		return
	}
	now := p.cfg.now()
	o.mu.Lock()
	g := func() grant {
		code := o.codes[f["code"]]
		switch {
		case code == nil || now.After(code.expires):
			return grant{errCode: "invalid_grant", errDesc: "the code is unknown or expired"}
		case code.used:
			// A replayed code: revoke what it bought (RFC 6749 §4.1.2).
			o.families[code.family] = true
			return grant{errCode: "invalid_grant", errDesc: "the code was already used"}
		case code.clientID != f["client_id"] || code.redirectURI != f["redirect_uri"]:
			return grant{errCode: "invalid_grant", errDesc: "client_id or redirect_uri differ from the authorization request"}
		case subtle.ConstantTimeCompare([]byte(s256(verifier)), []byte(code.challenge)) != 1:
			return grant{errCode: "invalid_grant", errDesc: "code_verifier does not match the code_challenge"}
		}
		code.used = true
		code.family = randomToken()
		return grant{clientID: code.clientID, user: code.user, scope: code.scope, resource: orDefault(f["resource"], code.resource), family: code.family}
	}()
	o.mu.Unlock()
	p.issue(w, o, g)
}

func (p *IdP) grantRefresh(w http.ResponseWriter, o *oauthServer, f map[string]string) {
	o.mu.Lock()
	g := func() grant {
		rt := o.refresh[f["refresh_token"]]
		switch {
		case rt == nil || rt.clientID != f["client_id"] || o.families[rt.family]:
			return grant{errCode: "invalid_grant", errDesc: "the refresh token is unknown, revoked or not this client's"}
		case rt.used:
			// A rotated token came back: someone kept a copy. Revoke
			// the whole family, the holder's newest token included.
			o.families[rt.family] = true
			return grant{errCode: "invalid_grant", errDesc: "the refresh token was already used"}
		}
		rt.used = true
		return grant{clientID: rt.clientID, user: rt.user, scope: rt.scope, resource: rt.resource, family: rt.family}
	}()
	o.mu.Unlock()
	p.issue(w, o, g)
}

// issue answers a token request: the error of g, or an access token with
// a new refresh token of g's family.
func (p *IdP) issue(w http.ResponseWriter, o *oauthServer, g grant) {
	if g.errCode != "" {
		oauthError(w, http.StatusBadRequest, g.errCode, g.errDesc)
		return
	}
	claims := o.cfg.Claims(g.user)
	claims["client_id"] = g.clientID
	// Every access token is distinct, as Okta's and Entra's are (jti,
	// uti): a refresh within the same second must not return the token it
	// replaces.
	claims["jti"] = randomToken()
	if g.scope != "" {
		claims["scope"] = g.scope
	}
	tok, err := p.Mint(claims)
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", "could not sign the token")
		return
	}
	refresh := randomToken()
	o.mu.Lock()
	o.refresh[refresh] = &refreshToken{clientID: g.clientID, user: g.user, scope: g.scope, resource: g.resource, family: g.family}
	o.issued++
	o.mu.Unlock()
	resp := map[string]any{
		"access_token":  tok,
		"token_type":    "Bearer",
		"expires_in":    int(accessLifetime / time.Second),
		"refresh_token": refresh,
	}
	if g.scope != "" {
		resp["scope"] = g.scope
	}
	body, _ := json.Marshal(resp)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}
