package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"

	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/test/envoysim"
	"github.com/mcpguard/mcpguard/test/fakeidp"
	"github.com/mcpguard/mcpguard/test/stack"
	"github.com/mcpguard/mcpguard/test/testpki"
)

const (
	serverName   = "mcpguard.mcpguard.svc"
	envoySPIFFE  = "spiffe://test.local/ns/gateway/sa/envoy"
	envoyDNS     = "envoy.gateway.svc"
	jwtNamespace = "envoy.filters.http.jwt_authn"
)

// pki is one deployment's certificates: mcpguard's server certificate,
// the CA that issues Envoy's client certificates, and the peers a test
// dials as.
type pki struct {
	serverCA, clientCA, rogueCA *testpki.CA
	files                       testpki.Files
	envoy                       *testpki.Issued // allowed SPIFFE ID
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{}
	var err error
	for _, ca := range []struct {
		dst  **testpki.CA
		name string
	}{{&p.serverCA, "server CA"}, {&p.clientCA, "client CA"}, {&p.rogueCA, "rogue CA"}} {
		if *ca.dst, err = testpki.NewCA(ca.name); err != nil {
			t.Fatal(err)
		}
	}
	server := p.issue(t, p.serverCA, testpki.Leaf{DNSNames: []string{serverName}, Server: true})
	if p.files, err = testpki.WriteServerFiles(t.TempDir(), server, p.clientCA); err != nil {
		t.Fatal(err)
	}
	p.envoy = p.issue(t, p.clientCA, testpki.Leaf{URIs: []string{envoySPIFFE}, Client: true})
	return p
}

func (p *pki) issue(t *testing.T, ca *testpki.CA, l testpki.Leaf) *testpki.Issued {
	t.Helper()
	c, err := ca.Issue(l)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// mutate turns on mutual TLS with the allowed peers.
func (p *pki) mutate(c *config.Config) {
	c.Server.GRPCTLS = config.GRPCTLS{
		CertFile: p.files.Cert, KeyFile: p.files.Key, ClientCAFile: p.files.ClientCA,
		AllowedSANs: []string{envoySPIFFE, envoyDNS},
	}
}

// clientTLS is an Envoy UpstreamTlsContext presenting cert (nil: none).
func (p *pki) clientTLS(cert *testpki.Issued) *tls.Config {
	return testpki.ClientConfig(cert, p.serverCA, serverName)
}

// filterAs is an Envoy stand-in dialing mcpguard with its own TLS
// settings (nil: plaintext), forwarding the given jwt_authn metadata.
func filterAs(t *testing.T, s *stack.Stack, tlsCfg *tls.Config, md map[string]any) *envoysim.Filter {
	t.Helper()
	conn, err := envoysim.Dial(s.Gateway.GRPCAddr(), tlsCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fc := stack.EnvoyFilter(nil)
	cfg := envoysim.Config{Filter: fc}
	if md != nil {
		fc.MetadataOptions = &extprocfilterv3.MetadataOptions{
			ForwardingNamespaces: &extprocfilterv3.MetadataOptions_MetadataNamespaces{Untyped: []string{jwtNamespace}},
		}
		cfg.Metadata = map[string]map[string]any{jwtNamespace: {"jwt_payload": md}}
	}
	f, err := envoysim.New(conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// processAs runs one initialize request through f with token.
func processAs(t *testing.T, s *stack.Stack, f *envoysim.Filter, token string) *envoysim.Outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	out := f.ProcessRequest(ctx, &envoysim.Request{
		Method: http.MethodPost, Scheme: "http", Authority: "gateway.local", Path: s.Config.Upstream.Path,
		Headers: []envoysim.Header{
			{Key: "content-type", Value: "application/json"},
			{Key: "accept", Value: "application/json, text/event-stream"},
			{Key: "authorization", Value: "Bearer " + token},
		},
		Body: []byte(initializeBody),
	})
	t.Cleanup(out.Close)
	return out
}

// TestPeerAuthentication: with server.grpc_tls only a peer whose client
// certificate chains to the client CA and names an allowed SAN gets an
// answer; every other peer fails at the TLS handshake, before mcpguard
// reads an ext_proc message, and nothing reaches AWS.
func TestPeerAuthentication(t *testing.T) {
	p := newPKI(t)
	s, _ := startStack(t, stack.Options{Mutate: p.mutate, GRPCTLS: p.clientTLS(p.envoy), AuditWriter: io.Discard})

	// The allowed peer works end to end: an MCP session and a tool call
	// through the Envoy stand-in, signed and verified by the fake AWS.
	cs := connect(t, s, stack.Alice)
	res, err := callAWS(cs, "aws s3 ls")
	if err != nil || res.IsError {
		t.Fatalf("tool call through an allowed peer: %v %+v", err, res)
	}
	forwarded := len(s.AWS.Requests())
	if forwarded == 0 {
		t.Fatal("nothing reached AWS")
	}
	tok, err := s.Token(stack.Alice)
	if err != nil {
		t.Fatal(err)
	}
	dnsPeer := p.issue(t, p.clientCA, testpki.Leaf{DNSNames: []string{envoyDNS}, Client: true})
	if out := processAs(t, s, filterAs(t, s, p.clientTLS(dnsPeer), nil), tok); out.Immediate != nil {
		t.Fatalf("peer with an allowed DNS SAN: %d %s", out.Immediate.Status, out.Immediate.Body)
	}

	refused := []struct {
		name string
		tls  *tls.Config
	}{
		{"plaintext", nil},
		{"no client certificate", p.clientTLS(nil)},
		{"certificate from another CA", p.clientTLS(p.issue(t, p.rogueCA, testpki.Leaf{URIs: []string{envoySPIFFE}, Client: true}))},
		{"SPIFFE ID not allowed", p.clientTLS(p.issue(t, p.clientCA, testpki.Leaf{URIs: []string{"spiffe://test.local/ns/other/sa/intruder"}, Client: true}))},
		{"allowed name only as common name", p.clientTLS(p.issue(t, p.clientCA, testpki.Leaf{CommonName: envoyDNS, DNSNames: []string{"intruder.svc"}, Client: true}))},
		{"expired certificate", p.clientTLS(p.issue(t, p.clientCA, testpki.Leaf{URIs: []string{envoySPIFFE}, Client: true, Expired: true}))},
		{"server-only certificate", p.clientTLS(p.issue(t, p.clientCA, testpki.Leaf{URIs: []string{envoySPIFFE}, Server: true}))},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			out := processAs(t, s, filterAs(t, s, tt.tls, nil), tok)
			// Envoy answers a failed ext_proc stream with status_on_error
			// (500) when failure_mode_allow is false.
			if out.Immediate == nil || out.Immediate.Status != 500 {
				t.Fatalf("refused peer got %+v", out)
			}
		})
	}
	if n := len(s.AWS.Requests()); n != forwarded {
		t.Errorf("AWS received %d requests, want %d", n, forwarded)
	}

	// At the TLS layer: the handshake (or, in TLS 1.3, the first read,
	// which carries the server's alert) fails.
	for name, cert := range map[string]*testpki.Issued{
		"none":        nil,
		"not allowed": p.issue(t, p.clientCA, testpki.Leaf{URIs: []string{"spiffe://test.local/ns/x/sa/y"}, Client: true}),
	} {
		t.Run("handshake "+name, func(t *testing.T) {
			addr := strings.TrimPrefix(s.Gateway.GRPCAddr(), "dns:///")
			c, err := tls.Dial("tcp", addr, p.clientTLS(cert))
			if err != nil {
				return // refused during the handshake
			}
			defer c.Close()
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.ReadAll(c); err == nil || !strings.Contains(err.Error(), "certificate") {
				t.Fatalf("read after handshake = %v, want a certificate alert", err)
			}
		})
	}
	m, err := stack.Metrics("http://" + s.Gateway.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	// SPIFFE ID not allowed, CN only, and the handshake test are SAN
	// refusals (gRPC may redial a refused peer, so at least three); the
	// others fail chain verification inside crypto/tls.
	if got := m["mcpguard_grpc_peers_refused_total"]; got < 3 {
		t.Errorf("mcpguard_grpc_peers_refused_total = %v, want at least 3", got)
	}
}

// TestPeerOverUnixSocket: a unix:// listener is created with the
// configured mode and serves the whole flow.
func TestPeerOverUnixSocket(t *testing.T) {
	sock := t.TempDir() + "/extproc.sock"
	s, _ := startStack(t, stack.Options{Mutate: func(c *config.Config) {
		c.Server.GRPCListen = "unix://" + sock
		c.Server.GRPCSocketMode = "0600"
	}, AuditWriter: io.Discard})
	if got := s.Gateway.GRPCAddr(); got != "unix://"+sock {
		t.Fatalf("GRPCAddr = %q", got)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", fi, err)
	}
	cs := connect(t, s, stack.Alice)
	if _, err := cs.ListTools(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
}

// TestMetadataModeTrustsNoForgery: in envoy_metadata mode behind mutual
// TLS, a jwt_authn payload is only a hint. A forged payload with a token
// signed by a key the IdP never published is refused 401; a genuine token
// of Bob with Alice's payload is refused; and Bob's request is never
// signed with the credentials Alice's token obtained.
func TestMetadataModeTrustsNoForgery(t *testing.T) {
	p := newPKI(t)
	s, _ := startStack(t, stack.Options{
		Mutate: func(c *config.Config) {
			p.mutate(c)
			c.OIDC.TokenSource = config.TokenSourceEnvoyMetadata
		},
		GRPCTLS:     p.clientTLS(p.envoy),
		AuditWriter: io.Discard,
	})
	payload := func(u stack.User) (map[string]any, string) {
		c := s.Claims(u)
		tok, err := s.IdP.Mint(c)
		if err != nil {
			t.Fatal(err)
		}
		return asMetadata(t, c), tok
	}
	aliceMD, aliceTok := payload(stack.Alice)
	bobMD, bobTok := payload(stack.Bob)

	out := processAs(t, s, filterAs(t, s, p.clientTLS(p.envoy), aliceMD), aliceTok)
	if out.Immediate != nil {
		t.Fatalf("alice: %d %s", out.Immediate.Status, out.Immediate.Body)
	}
	aliceKey := accessKey(t, sendUpstream(t, s, out.Request, []byte(initializeBody)), s)
	stsCalls := len(s.STS.Calls())

	forged, err := s.IdP.Mint(s.Claims(stack.Alice), fakeidp.WithForeignKey())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		md    map[string]any
		token string
	}{
		{"forged payload, token from an unknown key", aliceMD, forged},
		{"bob's token, alice's payload", aliceMD, bobTok},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := processAs(t, s, filterAs(t, s, p.clientTLS(p.envoy), tt.md), tt.token)
			if out.Immediate == nil || out.Immediate.Status != 401 {
				t.Fatalf("got %+v, want 401", out)
			}
		})
	}
	if n := len(s.STS.Calls()); n != stsCalls {
		t.Errorf("refused requests made %d STS calls", n-stsCalls)
	}

	out = processAs(t, s, filterAs(t, s, p.clientTLS(p.envoy), bobMD), bobTok)
	if out.Immediate != nil {
		t.Fatalf("bob: %d %s", out.Immediate.Status, out.Immediate.Body)
	}
	if bobKey := accessKey(t, sendUpstream(t, s, out.Request, []byte(initializeBody)), s); bobKey == aliceKey {
		t.Fatal("bob's request was signed with alice's credentials")
	}
}

// asMetadata passes claims through JSON as Envoy's protobuf Struct does
// (numbers become float64).
func asMetadata(t *testing.T, c map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// accessKey checks that AWS accepted the forwarded request and returns the
// access key it was signed with.
func accessKey(t *testing.T, resp *http.Response, s *stack.Stack) string {
	t.Helper()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("AWS answered %d: %s", resp.StatusCode, b)
	}
	reqs := s.AWS.Requests()
	return reqs[len(reqs)-1].AccessKeyID
}
