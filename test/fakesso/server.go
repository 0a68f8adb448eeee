package fakesso

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/mcpguard/mcpguard/test/sigv4check"
)

// Defaults of Options.
const (
	DefaultRegion          = "us-east-1"
	DefaultInstanceARN     = "arn:aws:sso:::instance/ssoins-7223f4a1b2c3d4e5"
	DefaultIdentityStoreID = "d-9067a1b2c3"
	DefaultTokenLifetime   = time.Hour
	DefaultSessionDuration = time.Hour
	DefaultRefreshLifetime = 12 * time.Hour
	// SigningName is the SigV4 service name of SSO OIDC.
	SigningName = "sso-oauth"
)

// Grant types and scopes Identity Center knows.
const (
	GrantJWTBearer     = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	GrantRefreshToken  = "refresh_token"
	ScopeAccountAccess = "sso:account:access"
)

// defaultScopes are granted to every application, as Identity Center does.
var defaultScopes = []string{"openid", "aws", "sts:identity_context"}

// TrustedTokenIssuer is an OIDC_JWT trusted token issuer of the instance.
type TrustedTokenIssuer struct {
	// IssuerURL is the iss the assertion must carry.
	IssuerURL string
	// JWKSURL is fetched on every exchange, so an unreachable IdP fails it.
	JWKSURL string
	// ClaimAttributePath names the assertion claim that identifies the
	// user, for example email.
	ClaimAttributePath string
	// IdentityStoreAttributePath is the user attribute the claim must
	// equal: emails.value or userName.
	IdentityStoreAttributePath string
}

// Application is a customer managed application with its grants.
type Application struct {
	Issuer TrustedTokenIssuer
	// Audiences are the jwt-bearer grant's authorized audiences (aud).
	Audiences []string
	// Scopes are the access scopes (PutApplicationAccessScope), such as
	// sso:account:access.
	Scopes []string
	// RefreshTokenGrant enables the refresh_token grant.
	RefreshTokenGrant bool
	// AssignedGroups may use the application (CreateApplicationAssignment).
	AssignedGroups []string
	// AuthorizedCallers are the IAM principal ARNs the application's
	// authentication method allows sso-oauth:CreateTokenWithIAM.
	AuthorizedCallers []string
}

// User is an identity store user, as SCIM synced it.
type User struct {
	UserName string
	Emails   []string
	Groups   []string
}

// Account is a member account of the organization.
type Account struct {
	ID, Name, Email string
}

// Assignment gives a group a permission set in an account.
type Assignment struct {
	Group, AccountID, PermissionSet string
}

// Caller is an IAM principal's credentials, for SigV4 verification;
// PrincipalARN is matched against Application.AuthorizedCallers.
type Caller = sigv4check.Caller

// Options configure a Server. Callers is required.
type Options struct {
	Region          string
	InstanceARN     string
	IdentityStoreID string
	// Applications by application ARN (the clientId).
	Applications map[string]Application
	Users        []User
	Accounts     []Account
	Assignments  []Assignment
	// SessionDurations of permission sets by name (default 1h each).
	SessionDurations map[string]time.Duration
	// Callers finds the credentials of an access key ID.
	Callers func(accessKeyID string) (Caller, bool)
	// TokenLifetime is the access token's expiresIn (default 1h).
	TokenLifetime time.Duration
	// RefreshLifetime bounds refresh tokens (default 12h).
	RefreshLifetime time.Duration
	HTTPClient      *http.Client
	// Now is the service clock: token, refresh token, assertion and
	// credential lifetimes (default time.Now).
	Now func() time.Time
	// SignatureClock is what x-amz-date is checked against (default
	// time.Now): the SDK signs with the wall clock even when a test moves
	// Now.
	SignatureClock func() time.Time
	Logger         *slog.Logger
}

// Call is one request either endpoint received.
type Call struct {
	Time      time.Time
	RequestID string
	// Operation is CreateTokenWithIAM, ListAccounts, ListAccountRoles or
	// GetRoleCredentials ("" when the route is unknown).
	Operation string
	Caller    string
	ClientID  string
	GrantType string
	UserName  string
	Scopes    []string
	AccountID string
	RoleName  string
	Status    int
	ErrorCode string
	// AccessKeyID of issued role credentials.
	AccessKeyID string
}

// Credential is an issued set of role credentials.
type Credential struct {
	AccessKeyID, SecretAccessKey, SessionToken string
	RoleARN                                    string
	SessionName                                string
	AccountID, PermissionSet, UserName         string
	Expiration                                 time.Time
}

// LogValue keeps the secret parts out of logs.
func (c Credential) LogValue() slog.Value {
	return slog.GroupValue(slog.String("access_key_id", c.AccessKeyID), slog.String("role_arn", c.RoleARN),
		slog.Time("expiration", c.Expiration))
}

type session struct {
	user     *User
	userID   string
	clientID string
	scopes   []string
	expires  time.Time
	context  string
}

type refresh struct {
	user     *User
	clientID string
	scopes   []string
	expires  time.Time
}

type apiError struct {
	status  int
	typ     string // X-Amzn-ErrorType
	oauth   string // OAuth error code; "" for the portal's {"message"} form
	message string
}

// Server is running Identity Center: an OIDC and a portal endpoint.
type Server struct {
	opts   Options
	log    *slog.Logger
	oidc   *http.Server
	portal *http.Server
	oidcLn net.Listener
	portLn net.Listener
	idKey  jwk.Key

	mu       sync.Mutex
	calls    []Call
	tokens   map[string]*session
	refresh  map[string]*refresh
	contexts map[string]string // identity context → user name
	issued   map[string]Credential
	throttle int
	inject   []apiError
}

// New starts both endpoints on loopback.
func New(opts Options) (*Server, error) {
	if opts.Callers == nil {
		return nil, errors.New("fakesso: Callers is required")
	}
	if opts.Region == "" {
		opts.Region = DefaultRegion
	}
	if opts.InstanceARN == "" {
		opts.InstanceARN = DefaultInstanceARN
	}
	if opts.IdentityStoreID == "" {
		opts.IdentityStoreID = DefaultIdentityStoreID
	}
	if opts.TokenLifetime == 0 {
		opts.TokenLifetime = DefaultTokenLifetime
	}
	if opts.RefreshLifetime == 0 {
		opts.RefreshLifetime = DefaultRefreshLifetime
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = http.DefaultClient
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SignatureClock == nil {
		opts.SignatureClock = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate id token key: %w", err)
	}
	key, err := jwk.FromRaw(priv)
	if err != nil {
		return nil, fmt.Errorf("id token key: %w", err)
	}
	_ = key.Set(jwk.KeyIDKey, "idc-1")
	s := &Server{opts: opts, log: log, idKey: key, tokens: map[string]*session{}, refresh: map[string]*refresh{},
		contexts: map[string]string{}, issued: map[string]Credential{}}
	if s.oidcLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if s.portLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		_ = s.oidcLn.Close()
		return nil, fmt.Errorf("listen: %w", err)
	}
	s.oidc = &http.Server{Handler: http.HandlerFunc(s.serveOIDC), ReadHeaderTimeout: 5 * time.Second}
	s.portal = &http.Server{Handler: http.HandlerFunc(s.servePortal), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.oidc.Serve(s.oidcLn) }()
	go func() { _ = s.portal.Serve(s.portLn) }()
	return s, nil
}

// OIDCURL is the SSO OIDC endpoint (BaseEndpoint of the ssooidc client).
func (s *Server) OIDCURL() string { return "http://" + s.oidcLn.Addr().String() }

// PortalURL is the portal endpoint (BaseEndpoint of the sso client).
func (s *Server) PortalURL() string { return "http://" + s.portLn.Addr().String() }

// Region is the region requests must be signed for.
func (s *Server) Region() string { return s.opts.Region }

// Close stops both endpoints.
func (s *Server) Close() error {
	return errors.Join(s.oidc.Close(), s.portal.Close())
}

// Calls returns every call received so far, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// CountCalls counts the calls of one operation.
func (s *Server) CountCalls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.Operation == op {
			n++
		}
	}
	return n
}

// Issued looks up role credentials the portal issued, for SigV4
// verification by the fake AWS MCP server.
func (s *Server) Issued(accessKeyID string) (Credential, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.issued[accessKeyID]
	return c, ok
}

// IdentityContext returns the user an identity context was issued to.
func (s *Server) IdentityContext(ctx string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.contexts[ctx]
	return u, ok
}

// Secrets returns every access and refresh token the server issued, and
// the secret parts of every role credential, so tests can prove none
// reaches a log or an audit record.
func (s *Server) Secrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k, v := range s.tokens {
		out = append(out, k, v.context)
	}
	for k := range s.refresh {
		out = append(out, k)
	}
	for _, c := range s.issued {
		out = append(out, c.SecretAccessKey, c.SessionToken)
	}
	return out
}

// SetThrottle makes the next n portal calls answer 429.
func (s *Server) SetThrottle(n int) { s.mu.Lock(); s.throttle = n; s.mu.Unlock() }

// InjectError makes the next n CreateTokenWithIAM calls fail with the
// error type (for example InternalServerException), its model status and
// OAuth code.
func (s *Server) InjectError(n int, errorType, description string) {
	e := oidcError(errorType, description)
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.inject = append(s.inject, *e)
	}
}

// RevokeSessions ends every access token of a user, as deleting the user
// or an administrator's session revocation does.
func (s *Server) RevokeSessions(userName string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.tokens {
		if v.user.UserName == userName {
			delete(s.tokens, k)
		}
	}
	for k, v := range s.refresh {
		if v.user.UserName == userName {
			delete(s.refresh, k)
		}
	}
}

// RoleARN is the ARN of the role Identity Center provisions for a
// permission set in an account (AWSReservedSSO_<set>_<hash>).
func (s *Server) RoleARN(accountID, permissionSet string) string {
	sum := sha256.Sum256([]byte(s.opts.InstanceARN + "/" + permissionSet))
	path := "aws-reserved/sso.amazonaws.com/"
	if s.opts.Region != "us-east-1" {
		path += s.opts.Region + "/"
	}
	return fmt.Sprintf("arn:aws:iam::%s:role/%sAWSReservedSSO_%s_%s", accountID, path, permissionSet, hex.EncodeToString(sum[:8]))
}

func (s *Server) record(c Call) {
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
}

// userID is the identity store's stable user ID for a user name.
func (s *Server) userID(u *User) string {
	sum := sha256.Sum256([]byte(s.opts.IdentityStoreID + "/" + u.UserName))
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// assignments lists the user's (account, permission set) pairs.
func (s *Server) assignments(u *User) []Assignment {
	var out []Assignment
	for _, a := range s.opts.Assignments {
		if slices.Contains(u.Groups, a.Group) && !slices.ContainsFunc(out, func(b Assignment) bool {
			return b.AccountID == a.AccountID && b.PermissionSet == a.PermissionSet
		}) {
			out = append(out, Assignment{AccountID: a.AccountID, PermissionSet: a.PermissionSet})
		}
	}
	slices.SortFunc(out, func(a, b Assignment) int {
		return strings.Compare(a.AccountID+"/"+a.PermissionSet, b.AccountID+"/"+b.PermissionSet)
	})
	return out
}

func writeJSON(w http.ResponseWriter, requestID string, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-amzn-RequestId", requestID)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *Server) writeError(w http.ResponseWriter, requestID string, e *apiError) {
	w.Header()["X-Amzn-ErrorType"] = []string{e.typ}
	if e.oauth != "" {
		writeJSON(w, requestID, e.status, map[string]string{"error": e.oauth, "error_description": e.message})
		return
	}
	writeJSON(w, requestID, e.status, map[string]string{"message": e.message})
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func randomText(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

func newAccessKeyID() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return "ASIA" + base32.StdEncoding.EncodeToString(b)
}
