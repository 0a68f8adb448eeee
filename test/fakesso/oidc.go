package fakesso

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// oauthCodes are the OAuth error codes of SSO OIDC's exceptions, and their
// statuses in the service model.
var oauthCodes = map[string]struct {
	code   string
	status int
}{
	"InvalidRequestException":       {"invalid_request", http.StatusBadRequest},
	"InvalidClientException":        {"invalid_client", http.StatusUnauthorized},
	"InvalidGrantException":         {"invalid_grant", http.StatusBadRequest},
	"UnauthorizedClientException":   {"unauthorized_client", http.StatusBadRequest},
	"UnsupportedGrantTypeException": {"unsupported_grant_type", http.StatusBadRequest},
	"InvalidScopeException":         {"invalid_scope", http.StatusBadRequest},
	"AccessDeniedException":         {"access_denied", http.StatusBadRequest},
	"ExpiredTokenException":         {"expired_token", http.StatusBadRequest},
	"InternalServerException":       {"server_error", http.StatusInternalServerError},
	"InvalidRequestRegionException": {"invalid_request", http.StatusBadRequest},
	"SlowDownException":             {"slow_down", http.StatusBadRequest},
}

func oidcError(typ, description string) *apiError {
	c, ok := oauthCodes[typ]
	if !ok {
		c.code, c.status = "server_error", http.StatusInternalServerError
	}
	return &apiError{status: c.status, typ: typ, oauth: c.code, message: description}
}

// tokenRequest is CreateTokenWithIAMRequest (members this fake reads).
type tokenRequest struct {
	ClientID     string   `json:"clientId"`
	GrantType    string   `json:"grantType"`
	Assertion    string   `json:"assertion"`
	RefreshToken string   `json:"refreshToken"`
	Scope        []string `json:"scope"`
	SubjectToken string   `json:"subjectToken"`
}

// tokenResponse is CreateTokenWithIAMResponse.
type tokenResponse struct {
	AccessToken          string   `json:"accessToken"`
	TokenType            string   `json:"tokenType"`
	ExpiresIn            int      `json:"expiresIn"`
	RefreshToken         string   `json:"refreshToken,omitempty"`
	IDToken              string   `json:"idToken"`
	IssuedTokenType      string   `json:"issuedTokenType"`
	Scope                []string `json:"scope"`
	AWSAdditionalDetails struct {
		IdentityContext string `json:"identityContext"`
	} `json:"awsAdditionalDetails"`
}

// algorithms Identity Center accepts for assertions.
var algorithms = []jwa.SignatureAlgorithm{jwa.RS256, jwa.RS384, jwa.RS512, jwa.ES256, jwa.ES384, jwa.ES512}

func (s *Server) serveOIDC(w http.ResponseWriter, r *http.Request) {
	c := Call{Time: s.opts.Now(), RequestID: newRequestID()}
	fail := func(e *apiError) {
		c.Status, c.ErrorCode = e.status, e.typ
		s.record(c)
		s.writeError(w, c.RequestID, e)
	}
	if r.Method != http.MethodPost || r.URL.Path != "/token" || r.URL.Query().Get("aws_iam") != "t" {
		fail(&apiError{status: http.StatusNotFound, typ: "UnknownOperationException", message: "unknown operation"})
		return
	}
	c.Operation = "CreateTokenWithIAM"
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		fail(oidcError("InvalidRequestException", "request body too large"))
		return
	}
	caller, sigErr := s.verifySignature(r, body)
	if sigErr != nil {
		fail(sigErr)
		return
	}
	c.Caller = caller.PrincipalARN
	if e := s.nextInjected(); e != nil {
		fail(e)
		return
	}
	var req tokenRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		fail(oidcError("InvalidRequestException", "Invalid request body"))
		return
	}
	c.ClientID, c.GrantType = req.ClientID, req.GrantType
	res, apiErr := s.createToken(r.Context(), caller, req, &c)
	if apiErr != nil {
		fail(apiErr)
		return
	}
	c.Status = http.StatusOK
	s.record(c)
	writeJSON(w, c.RequestID, http.StatusOK, res)
}

func (s *Server) nextInjected() *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.inject) == 0 {
		return nil
	}
	e := s.inject[0]
	s.inject = s.inject[1:]
	return &e
}

// createToken validates a call in Identity Center's order: parameters,
// client, caller authorization, grant, assertion, user, assignment, scope.
func (s *Server) createToken(ctx context.Context, caller Caller, req tokenRequest, c *Call) (*tokenResponse, *apiError) {
	if req.ClientID == "" || req.GrantType == "" {
		return nil, oidcError("InvalidRequestException", "clientId and grantType are required")
	}
	app, ok := s.opts.Applications[req.ClientID]
	if !ok {
		return nil, oidcError("InvalidClientException", "Invalid client provided")
	}
	if !slices.Contains(app.AuthorizedCallers, caller.PrincipalARN) {
		return nil, oidcError("AccessDeniedException", "Caller is not authorized to perform sso-oauth:CreateTokenWithIAM on this application")
	}
	now := s.opts.Now()
	var user *User
	var scopes []string
	switch req.GrantType {
	case GrantJWTBearer:
		if req.Assertion == "" {
			return nil, oidcError("InvalidRequestException", "assertion is required for the jwt-bearer grant")
		}
		u, e := s.verifyAssertion(ctx, app, req.Assertion)
		if e != nil {
			return nil, e
		}
		user = u
	case GrantRefreshToken:
		if !app.RefreshTokenGrant {
			return nil, oidcError("UnauthorizedClientException", "The application is not authorized for the refresh_token grant")
		}
		s.mu.Lock()
		rt, ok := s.refresh[req.RefreshToken]
		s.mu.Unlock()
		switch {
		case req.RefreshToken == "" || !ok || rt.clientID != req.ClientID:
			return nil, oidcError("InvalidGrantException", "Invalid refresh token provided")
		case !now.Before(rt.expires):
			return nil, oidcError("ExpiredTokenException", "Refresh token has expired")
		}
		user, scopes = rt.user, rt.scopes
	case "authorization_code", "urn:ietf:params:oauth:grant-type:token-exchange":
		return nil, oidcError("UnauthorizedClientException", "The application is not authorized for the grant "+req.GrantType)
	default:
		return nil, oidcError("UnsupportedGrantTypeException", "Unsupported grant type: "+req.GrantType)
	}
	c.UserName = user.UserName
	if !intersects(app.AssignedGroups, user.Groups) {
		return nil, oidcError("AccessDeniedException", "User is not assigned to the application")
	}
	allowed := append(slices.Clone(defaultScopes), app.Scopes...)
	if scopes == nil {
		scopes = allowed
	}
	if len(req.Scope) > 0 {
		for _, sc := range req.Scope {
			if !slices.Contains(scopes, sc) {
				return nil, oidcError("InvalidScopeException", "Invalid scope provided: "+sc)
			}
		}
		scopes = slices.Clone(req.Scope)
	}
	c.Scopes = scopes

	sess := &session{user: user, userID: s.userID(user), clientID: req.ClientID, scopes: scopes,
		expires: now.Add(s.opts.TokenLifetime), context: "AQoJb3JpZ2lu" + randomText(180)}
	access := "aoa" + randomText(120)
	idToken, err := s.idToken(sess, now)
	if err != nil {
		return nil, oidcError("InternalServerException", "internal error")
	}
	res := &tokenResponse{AccessToken: access, TokenType: "Bearer", ExpiresIn: int(s.opts.TokenLifetime / time.Second),
		IDToken: idToken, IssuedTokenType: "urn:ietf:params:oauth:token-type:refresh_token", Scope: scopes}
	res.AWSAdditionalDetails.IdentityContext = sess.context
	s.mu.Lock()
	defer s.mu.Unlock()
	if app.RefreshTokenGrant {
		if req.GrantType == GrantRefreshToken {
			res.RefreshToken = req.RefreshToken
		} else {
			res.RefreshToken = "aor" + randomText(120)
			s.refresh[res.RefreshToken] = &refresh{user: user, clientID: req.ClientID, scopes: scopes, expires: now.Add(s.opts.RefreshLifetime)}
		}
	} else {
		res.IssuedTokenType = "urn:ietf:params:oauth:token-type:access_token"
	}
	s.tokens[access] = sess
	s.contexts[sess.context] = user.UserName
	return res, nil
}

// verifyAssertion checks the JWT against the application's trusted token
// issuer and maps it to a user.
func (s *Server) verifyAssertion(ctx context.Context, app Application, assertion string) (*User, *apiError) {
	invalid := func(msg string) *apiError { return oidcError("InvalidGrantException", msg) }
	msg, err := jws.Parse([]byte(assertion))
	if err != nil || len(msg.Signatures()) != 1 {
		return nil, invalid("Invalid assertion: not a signed JWT")
	}
	if alg := msg.Signatures()[0].ProtectedHeaders().Algorithm(); !slices.Contains(algorithms, alg) {
		return nil, invalid("Invalid assertion: unsupported signing algorithm")
	}
	unverified, err := jwt.ParseInsecure([]byte(assertion))
	if err != nil {
		return nil, invalid("Invalid assertion: not a JWT")
	}
	if unverified.Issuer() == "" || unverified.Issuer() != app.Issuer.IssuerURL {
		return nil, invalid("Invalid assertion: issuer is not a trusted token issuer of the application")
	}
	set, err := jwk.Fetch(ctx, app.Issuer.JWKSURL, jwk.WithHTTPClient(s.opts.HTTPClient))
	if err != nil {
		return nil, invalid("Invalid assertion: unable to retrieve the trusted token issuer's keys")
	}
	tok, err := jwt.Parse([]byte(assertion), jwt.WithKeySet(set, jws.WithInferAlgorithmFromKey(true)), jwt.WithValidate(false))
	if err != nil {
		return nil, invalid("Invalid assertion: signature verification failed")
	}
	now := s.opts.Now()
	if tok.Expiration().IsZero() || !now.Before(tok.Expiration()) {
		// RFC 7523 section 3.1: an expired assertion is an invalid grant.
		return nil, invalid("Invalid assertion: the token has expired")
	}
	if nbf := tok.NotBefore(); !nbf.IsZero() && now.Add(time.Minute).Before(nbf) {
		return nil, invalid("Invalid assertion: the token is not yet valid")
	}
	if !intersects(app.Audiences, tok.Audience()) {
		return nil, invalid("Invalid assertion: audience is not authorized by the application's grant")
	}
	v, ok := tok.Get(app.Issuer.ClaimAttributePath)
	claim, isString := v.(string)
	if !ok || !isString || claim == "" {
		return nil, invalid("Invalid assertion: missing claim " + app.Issuer.ClaimAttributePath)
	}
	for i := range s.opts.Users {
		u := &s.opts.Users[i]
		switch app.Issuer.IdentityStoreAttributePath {
		case "emails.value":
			if slices.ContainsFunc(u.Emails, func(e string) bool { return strings.EqualFold(e, claim) }) {
				return u, nil
			}
		case "userName":
			if u.UserName == claim {
				return u, nil
			}
		}
	}
	return nil, invalid("Invalid assertion: no user matches the identity store attribute")
}

// idToken is the Identity Center id token with the identity context.
func (s *Server) idToken(sess *session, now time.Time) (string, error) {
	tok := jwt.New()
	for k, v := range map[string]any{
		jwt.IssuerKey:           "https://identitycenter.amazonaws.com/" + instanceID(s.opts.InstanceARN),
		jwt.SubjectKey:          sess.userID,
		jwt.AudienceKey:         sess.clientID,
		jwt.IssuedAtKey:         now,
		jwt.ExpirationKey:       sess.expires,
		"sts:identity_context":  sess.context,
		"aws:identity_store_id": s.opts.IdentityStoreID,
		"aws:instance_arn":      s.opts.InstanceARN,
	} {
		if err := tok.Set(k, v); err != nil {
			return "", fmt.Errorf("set %s: %w", k, err)
		}
	}
	b, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256, s.idKey))
	if err != nil {
		return "", fmt.Errorf("sign id token: %w", err)
	}
	return string(b), nil
}

func instanceID(arn string) string { return arn[strings.LastIndexByte(arn, '/')+1:] }

func intersects(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}
