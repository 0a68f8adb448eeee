package fakests

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/mcpguard/mcpguard/test/sigv4check"
)

// Version is the only STS API version the server accepts.
const Version = "2011-06-15"

// xmlns is the namespace of every STS response.
const xmlns = "https://sts.amazonaws.com/doc/2011-06-15/"

// Role is an IAM role as far as AssumeRoleWithWebIdentity cares: its trust
// policy and its maximum session duration.
type Role struct {
	// TrustedIssuer is the OIDC provider (token iss) the trust policy names.
	TrustedIssuer string
	// TrustedIssuers are further OIDC providers the trust policy names
	// (one statement each), for accounts federating several IdPs.
	TrustedIssuers []string
	// Audiences are the client IDs (token aud) the trust policy accepts.
	Audiences []string
	// AllowTagSession grants sts:TagSession; without it a token carrying
	// session tags is refused, as AWS refuses it.
	AllowTagSession bool
	// MaxSessionDuration is the role's maximum (default 1h, as in IAM).
	MaxSessionDuration time.Duration
}

// Options configure a Server.
type Options struct {
	// Addr to listen on (default 127.0.0.1:0).
	Addr string
	// JWKSURL is the fake IdP's JWKS, fetched on every call (as STS may),
	// so an unreachable IdP yields IDPCommunicationError.
	JWKSURL string
	// IssuerJWKS maps further issuers (the account's other IAM OIDC
	// providers) to their own JWKS, so a token is verified only with the
	// keys of the provider its iss names, as STS does.
	IssuerJWKS map[string]string
	// Keys provides the JWKS directly instead of JWKSURL.
	Keys func(ctx context.Context) (jwk.Set, error)
	// HTTPClient fetches JWKSURL (default http.DefaultClient).
	HTTPClient *http.Client
	// Roles by role ARN.
	Roles map[string]Role
	// CredentialLifetime overrides DurationSeconds for issued credentials
	// (to test expiry without waiting an hour).
	CredentialLifetime time.Duration
	// PackedPolicyLimit is the packed size, in bytes, of session policies
	// plus session tags that counts as 100% (default 2048).
	PackedPolicyLimit int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger (nil discards).
	Logger *slog.Logger

	// Region is the region AssumeRole must be signed for (default
	// us-east-1).
	Region string
	// Callers finds the IAM credentials of a SigV4-signed AssumeRole;
	// nil refuses every AssumeRole.
	Callers func(accessKeyID string) (sigv4check.Caller, bool)
	// SignatureClock is what x-amz-date is checked against (default
	// time.Now).
	SignatureClock func() time.Time
	// AssumeRoleTrust holds, by role ARN, the trust of roles that IAM
	// principals assume with AssumeRole (identity-bearer roles).
	AssumeRoleTrust map[string]AssumeRoleTrust
	// IdentityContexts resolves an IAM Identity Center context assertion
	// to the user it was issued to (the fake Identity Center's
	// IdentityContext); unknown assertions are refused.
	IdentityContexts func(assertion string) (user string, ok bool)
}

// Call is one request the server received.
type Call struct {
	Time            time.Time
	RequestID       string
	Action          string
	Version         string
	RoleARN         string
	RoleSessionName string
	DurationSeconds int
	Policy          string
	PolicyARNs      []string
	Subject         string
	Issuer          string
	SessionTags     map[string]string
	// Status and ErrorCode are the answer ("" on success).
	Status    int
	ErrorCode string
	// Fault names an injected fault: throttle, down, garbage, injected.
	Fault       string
	AccessKeyID string
	// Caller is the IAM principal that signed an AssumeRole call.
	Caller string
	// ProvidedContexts are AssumeRole's ProvidedContexts members.
	ProvidedContexts []ProvidedContext
	// ContextUser is the Identity Center user of a verified context.
	ContextUser string
}

// Credential is an issued set of temporary credentials and what they were
// issued to.
type Credential struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	RoleARN         string
	AssumedRoleARN  string
	SessionName     string
	Subject         string
	Issuer          string
	SessionTags     map[string]string
	Expiration      time.Time
	RequestID       string
	// ContextUser is the Identity Center user of an identity-enhanced
	// session (AssumeRole with ProvidedContexts), else "".
	ContextUser string
	// SessionPolicy is the inline session policy (Policy) the credentials
	// were issued with, as sent; "" when none. AWS intersects the role's
	// permissions with it on every call made with the credentials, and
	// test/fakeaws does the same.
	SessionPolicy string
	// PolicyARNs are the managed session policies (PolicyArns).
	PolicyARNs []string
}

// LogValue keeps the secret parts out of logs.
func (c Credential) LogValue() slog.Value {
	return slog.GroupValue(slog.String("access_key_id", c.AccessKeyID), slog.String("role_arn", c.RoleARN),
		slog.String("session_name", c.SessionName), slog.Time("expiration", c.Expiration))
}

// injected is an error answered instead of processing a call.
type injected struct {
	status  int
	code    string
	message string
}

// Server is a running fake STS.
type Server struct {
	opts Options
	srv  *http.Server
	ln   net.Listener
	url  string
	log  *slog.Logger

	mu       sync.Mutex
	calls    []Call
	issued   map[string]Credential
	throttle int
	latency  time.Duration
	down     bool
	garbage  bool
	inject   []injected
}

// New starts a server; Close stops it.
func New(opts Options) (*Server, error) {
	if opts.JWKSURL == "" && opts.Keys == nil {
		return nil, errors.New("fakests: JWKSURL or Keys is required")
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = http.DefaultClient
	}
	if opts.PackedPolicyLimit == 0 {
		opts.PackedPolicyLimit = 2048
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.SignatureClock == nil {
		opts.SignatureClock = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	s := &Server{opts: opts, ln: ln, url: "http://" + ln.Addr().String(), log: log, issued: map[string]Credential{}}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// URL is the endpoint to give the STS client (BaseEndpoint).
func (s *Server) URL() string { return s.url }

// Close stops the server; later calls see connection refused.
func (s *Server) Close() error { return s.srv.Close() }

// Calls returns every call received so far, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Issued looks up credentials this server issued, for SigV4 verification.
func (s *Server) Issued(accessKeyID string) (Credential, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.issued[accessKeyID]
	return c, ok
}

// SetThrottle makes the next n calls answer Throttling (HTTP 400).
func (s *Server) SetThrottle(n int) { s.mu.Lock(); s.throttle = n; s.mu.Unlock() }

// SetLatency delays every answer by d.
func (s *Server) SetLatency(d time.Duration) { s.mu.Lock(); s.latency = d; s.mu.Unlock() }

// SetDown makes the server drop every connection without an answer, as an
// unreachable endpoint does.
func (s *Server) SetDown(down bool) { s.mu.Lock(); s.down = down; s.mu.Unlock() }

// SetGarbage makes successful answers malformed XML.
func (s *Server) SetGarbage(g bool) { s.mu.Lock(); s.garbage = g; s.mu.Unlock() }

// InjectError makes the next n calls answer the AWS error code with status
// and message (for codes the fake cannot provoke naturally, such as
// IDPRejectedClaim, RegionDisabledException or a 500 InternalFailure).
func (s *Server) InjectError(n, status int, code, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.inject = append(s.inject, injected{status: status, code: code, message: message})
	}
}

func (s *Server) record(c Call) {
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	latency, down, garbage := s.latency, s.down, s.garbage
	s.mu.Unlock()
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	c := Call{Time: s.opts.Now(), RequestID: newRequestID()}
	if down {
		c.Fault = "down"
		s.record(c)
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		c.Status = http.StatusMethodNotAllowed
		s.record(c)
		s.writeError(w, c.RequestID, http.StatusMethodNotAllowed, "InvalidAction", "The requested action is not supported on this endpoint")
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err == nil {
		// ParseForm consumes the body; AssumeRole's signature covers it.
		r.Body = io.NopCloser(bytes.NewReader(raw))
		err = r.ParseForm()
	}
	if err != nil {
		c.Status = http.StatusBadRequest
		s.record(c)
		s.writeError(w, c.RequestID, http.StatusBadRequest, "MalformedQueryString", "The query string is malformed")
		return
	}
	f := r.PostForm
	c.Action, c.Version = f.Get("Action"), f.Get("Version")
	c.RoleARN, c.RoleSessionName, c.Policy = f.Get("RoleArn"), f.Get("RoleSessionName"), f.Get("Policy")
	for i := 1; ; i++ {
		a := f.Get(fmt.Sprintf("PolicyArns.member.%d.arn", i))
		if a == "" {
			break
		}
		c.PolicyARNs = append(c.PolicyARNs, a)
	}

	if inj, fault := s.nextFault(); fault != "" {
		c.Fault, c.Status, c.ErrorCode = fault, inj.status, inj.code
		s.record(c)
		s.writeError(w, c.RequestID, inj.status, inj.code, inj.message)
		return
	}

	// Without Callers the fake serves only AssumeRoleWithWebIdentity, and
	// AssumeRole is an unknown operation.
	if c.Action == "AssumeRole" && c.Version == Version && s.opts.Callers != nil {
		s.serveAssumeRole(w, r, raw, &c, f)
		return
	}
	res, apiErr := s.assume(r.Context(), &c, f)
	if apiErr != nil {
		c.Status, c.ErrorCode = apiErr.status, apiErr.code
		s.record(c)
		s.log.Debug("fakests error", slog.String("code", apiErr.code), slog.String("message", apiErr.message))
		s.writeError(w, c.RequestID, apiErr.status, apiErr.code, apiErr.message)
		return
	}
	c.Status, c.AccessKeyID = http.StatusOK, res.cred.AccessKeyID
	if garbage {
		c.Fault = "garbage"
		s.record(c)
		w.Header().Set("Content-Type", "text/xml")
		w.Header().Set("x-amzn-RequestId", c.RequestID)
		_, _ = w.Write([]byte("<AssumeRoleWithWebIdentityResponse><Credentials><AccessKeyId>ASIA"))
		return
	}
	s.mu.Lock()
	s.issued[res.cred.AccessKeyID] = res.cred
	s.calls = append(s.calls, c)
	s.mu.Unlock()
	s.writeXML(w, c.RequestID, http.StatusOK, res.response(c.RequestID))
}

func (s *Server) serveAssumeRole(w http.ResponseWriter, r *http.Request, raw []byte, c *Call, f map[string][]string) {
	cred, apiErr := s.assumeRole(r, raw, c, f)
	if apiErr != nil {
		c.Status, c.ErrorCode = apiErr.status, apiErr.code
		s.record(*c)
		s.writeError(w, c.RequestID, apiErr.status, apiErr.code, apiErr.message)
		return
	}
	c.Status, c.AccessKeyID = http.StatusOK, cred.AccessKeyID
	s.mu.Lock()
	s.issued[cred.AccessKeyID] = *cred
	s.calls = append(s.calls, *c)
	s.mu.Unlock()
	s.writeXML(w, c.RequestID, http.StatusOK, assumeRoleDocument(cred, c.RequestID))
}

// nextFault consumes one queued throttle or injected error.
func (s *Server) nextFault() (injected, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.throttle > 0 {
		s.throttle--
		return injected{status: http.StatusBadRequest, code: "Throttling", message: "Rate exceeded"}, "throttle"
	}
	if len(s.inject) > 0 {
		inj := s.inject[0]
		s.inject = s.inject[1:]
		return inj, "injected"
	}
	return injected{}, ""
}

// errorResponse is AWS's Query-API error document.
type errorResponse struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Error   struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

func (s *Server) writeError(w http.ResponseWriter, requestID string, status int, code, message string) {
	var e errorResponse
	e.Xmlns = xmlns
	e.Error.Type = "Sender"
	if status >= 500 {
		e.Error.Type = "Receiver"
	}
	e.Error.Code, e.Error.Message, e.RequestID = code, message, requestID
	s.writeXML(w, requestID, status, e)
}

func (s *Server) writeXML(w http.ResponseWriter, requestID string, status int, v any) {
	body, err := xml.Marshal(v)
	if err != nil {
		http.Error(w, "encode response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", requestID)
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(body)
}

// newRequestID returns a random UUID (version 4), the form of AWS request IDs.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// randomText returns n characters of an encoding of random bytes.
func randomText(enc func([]byte) string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return enc(b)[:n]
}

func newAccessKeyID() string {
	return "ASIA" + randomText(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString, 16)
}

func newSecretKey() string { return randomText(base64.RawStdEncoding.EncodeToString, 40) }

// newSessionToken is as long as a typical web-identity session token.
func newSessionToken() string {
	return "IQoJb3JpZ2luX2Vj" + randomText(base64.StdEncoding.EncodeToString, 1008)
}

// roleID derives a stable AROA… unique ID for a role ARN.
func roleID(roleARN string) string {
	sum := sha256.Sum256([]byte(roleARN))
	return "AROA" + strings.ToUpper(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:]))[:17]
}
