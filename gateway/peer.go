package gateway

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mcpguard/mcpguard/config"
)

// peerTLS is mutual TLS for the ext_proc listener. Whoever completes a
// handshake speaks for Envoy: its attributes (source.address, request.id),
// its gRPC metadata (x-mcpguard-upstream) and, in envoy_metadata mode, the
// jwt_authn payload are believed, and it receives signed headers. So a peer
// must present a certificate that chains to the configured CA and names an
// allowed SAN; anything else fails the handshake before a single ext_proc
// message is read.
//
// The certificate, key and CA files are checked for changes (size and
// modification time) on every new connection and re-read when they
// changed; a set that does not load is logged and the previous one stays
// in use, so a half-written rotation never takes the listener down.
type peerTLS struct {
	certFile, keyFile, caFile string
	uris, dns                 map[string]bool
	log                       *slog.Logger
	onRefused                 func()

	mu     sync.Mutex
	stamps [3]fileStamp
	cur    *tls.Config
}

// fileStamp is the cheap fingerprint compared before re-reading a file.
type fileStamp struct {
	size int64
	mod  time.Time
}

func newPeerTLS(c config.GRPCTLS, log *slog.Logger, onRefused func()) (*peerTLS, error) {
	p := &peerTLS{
		certFile: c.CertFile, keyFile: c.KeyFile, caFile: c.ClientCAFile,
		uris: map[string]bool{}, dns: map[string]bool{},
		log: log, onRefused: onRefused,
	}
	for _, san := range c.AllowedSANs {
		if strings.HasPrefix(san, "spiffe://") {
			p.uris[san] = true
		} else {
			p.dns[strings.ToLower(san)] = true
		}
	}
	if len(p.uris)+len(p.dns) == 0 {
		return nil, errors.New("grpc_tls: allowed_sans is empty")
	}
	stamps, err := p.stat()
	if err != nil {
		return nil, err
	}
	cfg, err := p.load()
	if err != nil {
		return nil, err
	}
	p.stamps, p.cur = stamps, cfg
	return p, nil
}

// serverConfig is the tls.Config for grpc credentials: every handshake
// asks configForClient for the current certificates.
func (p *peerTLS) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		NextProtos:         []string{"h2"},
		GetConfigForClient: p.configForClient,
	}
}

func (p *peerTLS) configForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	stamps, err := p.stat()
	if err == nil && stamps != p.stamps {
		var cfg *tls.Config
		if cfg, err = p.load(); err == nil {
			p.cur = cfg
			p.log.Info("ext_proc TLS certificates reloaded")
		}
		// Remember the stamps either way: a broken set is reported once,
		// not on every connection.
		p.stamps = stamps
	}
	if err != nil {
		p.log.Error("ext_proc TLS certificates not reloaded; keeping the ones in use", "error", err)
	}
	return p.cur, nil
}

func (p *peerTLS) stat() ([3]fileStamp, error) {
	var out [3]fileStamp
	for i, f := range []string{p.certFile, p.keyFile, p.caFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return out, fmt.Errorf("grpc_tls: %w", err)
		}
		out[i] = fileStamp{size: fi.Size(), mod: fi.ModTime()}
	}
	return out, nil
}

// load reads the three files into a complete server configuration.
func (p *peerTLS) load() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(p.certFile, p.keyFile)
	if err != nil {
		return nil, fmt.Errorf("grpc_tls: load certificate and key: %w", err)
	}
	caPEM, err := os.ReadFile(p.caFile)
	if err != nil {
		return nil, fmt.Errorf("grpc_tls: read client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("grpc_tls: %s holds no PEM certificate", filepath.Base(p.caFile))
	}
	return &tls.Config{
		MinVersion:       tls.VersionTLS12,
		NextProtos:       []string{"h2"},
		Certificates:     []tls.Certificate{cert},
		ClientAuth:       tls.RequireAndVerifyClientCert,
		ClientCAs:        pool,
		VerifyConnection: p.verifyPeer,
	}, nil
}

// verifyPeer runs after crypto/tls verified the chain: the leaf must name
// an allowed SPIFFE ID (URI SAN) or DNS name. The common name is never
// consulted (RFC 6125 §6.4.4, and a CN is easy to obtain from a CA).
func (p *peerTLS) verifyPeer(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		p.refused("no client certificate", nil)
		return errors.New("mcpguard: client certificate required")
	}
	leaf := cs.PeerCertificates[0]
	for _, u := range leaf.URIs {
		if p.uris[u.String()] {
			return nil
		}
	}
	for _, d := range leaf.DNSNames {
		if p.dns[strings.ToLower(d)] {
			return nil
		}
	}
	p.refused("client certificate names no allowed SAN", leaf)
	return errors.New("mcpguard: client certificate is not an allowed ext_proc peer")
}

func (p *peerTLS) refused(why string, leaf *x509.Certificate) {
	attrs := []any{"reason", why}
	if leaf != nil {
		uris := make([]string, 0, len(leaf.URIs))
		for _, u := range leaf.URIs {
			uris = append(uris, truncateSAN(u.String()))
		}
		dns := make([]string, 0, len(leaf.DNSNames))
		for _, d := range leaf.DNSNames {
			dns = append(dns, truncateSAN(d))
		}
		attrs = append(attrs, "uri_sans", uris[:min(len(uris), 4)], "dns_sans", dns[:min(len(dns), 4)])
	}
	p.log.Warn("ext_proc peer refused", attrs...)
	if p.onRefused != nil {
		p.onRefused()
	}
}

// truncateSAN bounds peer-chosen text before it reaches a log.
func truncateSAN(s string) string {
	if len(s) > 128 {
		return s[:128] + "…"
	}
	return s
}

// listenUnix binds a Unix domain socket with mode, without a moment in
// which the socket is reachable under its final name with a wider mode: it
// is bound under a random name beside path, chmod-ed, then renamed into
// place. A stale socket at path (one nobody answers on) is replaced; a live
// one, or any other kind of file, is an error.
func listenUnix(path string, mode fs.FileMode) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s: another process is serving on this socket", path)
		}
	}
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("random socket name: %w", err)
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+"."+hex.EncodeToString(rnd[:]))
	ln, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, err
	}
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(false) // the file is renamed; unixListener removes path itself
	if err := os.Chmod(tmp, mode); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("chmod socket: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("move socket into place: %w", err)
	}
	return &unixListener{Listener: ln, path: path}, nil
}

// unixListener removes its socket file when closed, and reports the
// address in the form grpc_listen and gRPC clients accept.
type unixListener struct {
	net.Listener
	path string
	once sync.Once
}

func (l *unixListener) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() { os.Remove(l.path) })
	return err
}

// grpcAddr renders a listener's address as grpc_listen spells it.
func grpcAddr(ln net.Listener) string {
	if u, ok := ln.(*unixListener); ok {
		return "unix://" + u.path
	}
	return ln.Addr().String()
}
