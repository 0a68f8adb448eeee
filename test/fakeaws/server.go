package fakeaws

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Defaults of Options.
const (
	DefaultAddr    = "127.0.0.1:0"
	DefaultRegion  = "us-east-1"
	DefaultService = "aws-mcp"
	DefaultPath    = "/mcp"
	DefaultMaxSkew = 5 * time.Minute
	// MaxBodyBytes bounds a request body; larger bodies get 413.
	MaxBodyBytes = 8 << 20
)

// Headers through which the verifier hands the verified caller to the tool
// handlers. Any client-sent header with this prefix is deleted before they
// are set, so a client cannot claim a role.
const (
	internalHeaderPrefix = "X-Fakeaws-"
	headerRoleARN        = "X-Fakeaws-Role-Arn"
	headerSessionName    = "X-Fakeaws-Session-Name"
	headerAccessKeyID    = "X-Fakeaws-Access-Key-Id"
)

// Credential is a set of AWS credentials the server accepts, as issued by
// the STS fake.
type Credential struct {
	AccessKeyID     string
	SecretAccessKey string
	// SessionToken must equal the request's x-amz-security-token; empty
	// means a long-term key that must not carry a token.
	SessionToken string
	// RoleARN is the IAM role (arn:aws:iam::ACCOUNT:role/NAME) the
	// credentials were issued for; it selects Options.Permissions.
	RoleARN string
	// SessionName is the role session name (the user, for mcpguard).
	SessionName string
	// Expiration is when the credentials stop working; zero means never.
	Expiration time.Time
	// SessionPolicy is the inline session policy STS issued the
	// credentials with ("" none); every call_boto3 checks the IAM actions
	// of its operation against it, as AWS does.
	SessionPolicy string
}

// Options configure a Server. Lookup is required.
type Options struct {
	// Addr is the listen address; default 127.0.0.1:0.
	Addr string
	// Region and Service are the credential scope requests must be signed
	// for; defaults us-east-1 and aws-mcp.
	Region, Service string
	// Path serves the MCP endpoint; default /mcp.
	Path string
	// Lookup finds the credentials for an access key id.
	Lookup func(accessKeyID string) (Credential, bool)
	// Permissions maps a role ARN to the IAM service prefixes ("s3",
	// "ec2", ...) whose actions that role may perform through run_script
	// and aws___call_aws; everything else is AccessDenied, except
	// sts:GetCallerIdentity, which needs no permission.
	Permissions map[string][]string
	// JSONResponse makes POST responses application/json instead of
	// text/event-stream; the AWS MCP Server may answer either way.
	JSONResponse bool
	// ExtraTools are listed and callable besides the AWS MCP Server's own.
	ExtraTools []ExtraTool
	// LegacyCallAWS adds aws___call_aws, which the AWS MCP Server removed
	// on 2026-08-31 and the self-hosted AWS API MCP Server still offers.
	LegacyCallAWS bool
	// Clock is the server clock for the x-amz-date check; default time.Now.
	Clock func() time.Time
	// MaxSkew is the accepted distance between x-amz-date and the server
	// clock; default 5 minutes, as AWS.
	MaxSkew time.Duration
	// Logger receives one line per rejection (no secrets); nil discards.
	Logger *slog.Logger
	// Stateless serves MCP without sessions, as a server of revision
	// 2026-07-28 must (the SDK speaks that revision only statelessly).
	Stateless bool
	// Configure, when set, adds to the MCP server (tools of a test).
	Configure func(*mcp.Server)
}

// Request is an accepted request as recorded for tests.
type Request struct {
	RequestID string
	Method    string
	// Path is the request target as received: path and query.
	Path        string
	Header      http.Header
	Body        []byte
	AccessKeyID string
	RoleARN     string
	SessionName string
}

// Rejection is a refused request as recorded for tests.
type Rejection struct {
	RequestID string
	Method    string
	Path      string
	Header    http.Header
	Status    int
	// ErrorType is the x-amzn-ErrorType sent, for example
	// InvalidSignatureException.
	ErrorType string
	Message   string
}

// Server is a running fake AWS MCP Server.
type Server struct {
	opts     Options
	handler  http.Handler
	srv      *http.Server
	ln       net.Listener
	served   chan struct{}
	mu       sync.Mutex
	accepted []Request
	rejected []Rejection
	scripts  scriptLog
}

// New starts a Server listening on opts.Addr.
func New(opts Options) (*Server, error) {
	if opts.Lookup == nil {
		return nil, errors.New("new fakeaws server: Options.Lookup is required")
	}
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	if opts.Region == "" {
		opts.Region = DefaultRegion
	}
	if opts.Service == "" {
		opts.Service = DefaultService
	}
	if opts.Path == "" {
		opts.Path = DefaultPath
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.MaxSkew == 0 {
		opts.MaxSkew = DefaultMaxSkew
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, served: make(chan struct{})}

	mcpServer := mcp.NewServer(&mcp.Implementation{Name: "aws-mcp", Title: "AWS MCP Server (fake)", Version: "fakeaws"}, nil)
	s.addTools(mcpServer)
	if opts.Configure != nil {
		opts.Configure(mcpServer)
	}
	streamable := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return mcpServer }, &mcp.StreamableHTTPOptions{
		JSONResponse: opts.JSONResponse,
		// Requests reach the loopback listener with the AWS host name
		// they were signed for.
		DisableLocalhostProtection: true,
		SessionTimeout:             10 * time.Minute,
		Stateless:                  opts.Stateless,
	})
	mux := http.NewServeMux()
	mux.Handle(opts.Path, streamable)
	s.handler = s.verifying(mux)

	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", opts.Addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(ln) // returns http.ErrServerClosed on Close
	}()
	return s, nil
}

// URL is the MCP endpoint, for example http://127.0.0.1:43121/mcp.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() + s.opts.Path }

// Handler is the verifying MCP handler, for mounting in another server.
func (s *Server) Handler() http.Handler { return s.handler }

// Close stops the server and drops open connections, SSE streams included.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.served
	return err
}

// Requests returns the accepted requests in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.accepted...)
}

// Rejections returns the rejected requests in arrival order.
func (s *Server) Rejections() []Rejection {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Rejection(nil), s.rejected...)
}

// verifying wraps next with SigV4 verification.
func (s *Server) verifying(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := newRequestID()
		// The exact header name AWS uses; set directly to keep its case.
		w.Header()["x-amzn-RequestId"] = []string{id}

		body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
		if err != nil {
			s.reject(w, r, id, &awsError{status: http.StatusBadRequest, typ: "SerializationException", msg: "Unable to read the request body."})
			return
		}
		if len(body) > MaxBodyBytes {
			s.reject(w, r, id, &awsError{status: http.StatusRequestEntityTooLarge, typ: "RequestEntityTooLargeException", msg: "Request must be smaller than 8388608 bytes."})
			return
		}
		cred, aerr := s.verify(r, body)
		if aerr != nil {
			s.reject(w, r, id, aerr)
			return
		}

		for k := range r.Header {
			if strings.HasPrefix(k, internalHeaderPrefix) {
				delete(r.Header, k)
			}
		}
		rec := Request{
			RequestID: id, Method: r.Method, Path: r.RequestURI, Header: r.Header.Clone(), Body: body,
			AccessKeyID: cred.AccessKeyID, RoleARN: cred.RoleARN, SessionName: cred.SessionName,
		}
		s.mu.Lock()
		s.accepted = append(s.accepted, rec)
		s.mu.Unlock()

		r.Header.Set(headerRoleARN, cred.RoleARN)
		r.Header.Set(headerSessionName, cred.SessionName)
		r.Header.Set(headerAccessKeyID, cred.AccessKeyID)
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

func (s *Server) reject(w http.ResponseWriter, r *http.Request, id string, e *awsError) {
	s.mu.Lock()
	s.rejected = append(s.rejected, Rejection{
		RequestID: id, Method: r.Method, Path: r.RequestURI, Header: r.Header.Clone(),
		Status: e.status, ErrorType: e.typ, Message: e.msg,
	})
	s.mu.Unlock()
	s.opts.Logger.LogAttrs(context.Background(), slog.LevelInfo, "request rejected",
		slog.String("request_id", id), slog.String("method", r.Method), slog.String("error_type", e.typ),
		slog.String("message", e.msg))
	e.write(w)
}

// newRequestID returns a random UUID (version 4) string.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
