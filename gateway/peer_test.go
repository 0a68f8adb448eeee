package gateway

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/test/testpki"
)

// handshake runs one TLS handshake of client against p over loopback TCP
// (kernel buffers, so an alert and a flight in opposite directions cannot
// block each other) and returns the server's error (nil: admitted).
func handshake(t *testing.T, p *peerTLS, client *tls.Config) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srvErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			srvErr <- err
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		srvErr <- tls.Server(c, p.serverConfig()).Handshake()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	cli := tls.Client(c, client)
	if cli.Handshake() == nil {
		// TLS 1.3 reports a refused client certificate on the first
		// read; drain until the server closes.
		_, _ = io.Copy(io.Discard, cli)
	}
	return <-srvErr
}

func writeSet(t *testing.T, dir string) (srvCA, cliCA *testpki.CA, files testpki.Files) {
	t.Helper()
	var err error
	if srvCA, err = testpki.NewCA("server CA"); err != nil {
		t.Fatal(err)
	}
	if cliCA, err = testpki.NewCA("client CA"); err != nil {
		t.Fatal(err)
	}
	srv, err := srvCA.Issue(testpki.Leaf{DNSNames: []string{"mcpguard.test"}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	if files, err = testpki.WriteServerFiles(dir, srv, cliCA); err != nil {
		t.Fatal(err)
	}
	return srvCA, cliCA, files
}

func client(t *testing.T, srvCA, cliCA *testpki.CA, l testpki.Leaf) *tls.Config {
	t.Helper()
	l.Client = true
	c, err := cliCA.Issue(l)
	if err != nil {
		t.Fatal(err)
	}
	return testpki.ClientConfig(c, srvCA, "mcpguard.test")
}

func TestPeerTLSAllowList(t *testing.T) {
	dir := t.TempDir()
	srvCA, cliCA, files := writeSet(t, dir)
	var refused atomic.Int64
	p, err := newPeerTLS(config.GRPCTLS{
		CertFile: files.Cert, KeyFile: files.Key, ClientCAFile: files.ClientCA,
		AllowedSANs: []string{"spiffe://td/ns/a/sa/envoy", "Envoy.Example.COM"},
	}, slog.New(slog.DiscardHandler), func() { refused.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		leaf    testpki.Leaf
		ok      bool
		refused bool // counted as a SAN refusal
	}{
		{"spiffe id", testpki.Leaf{URIs: []string{"spiffe://td/ns/a/sa/envoy"}}, true, false},
		{"dns name, case-insensitive", testpki.Leaf{DNSNames: []string{"envoy.example.com"}}, true, false},
		{"one of several sans", testpki.Leaf{DNSNames: []string{"x.example.com"}, URIs: []string{"spiffe://td/ns/a/sa/envoy"}}, true, false},
		{"spiffe id with suffix", testpki.Leaf{URIs: []string{"spiffe://td/ns/a/sa/envoy/x"}}, false, true},
		{"spiffe id as dns", testpki.Leaf{DNSNames: []string{"spiffe.td"}}, false, true},
		{"dns name in a uri", testpki.Leaf{URIs: []string{"https://envoy.example.com"}}, false, true},
		{"common name only", testpki.Leaf{CommonName: "envoy.example.com"}, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := refused.Load()
			err := handshake(t, p, client(t, srvCA, cliCA, c.leaf))
			if (err == nil) != c.ok {
				t.Fatalf("handshake err = %v, want ok %v", err, c.ok)
			}
			if got := refused.Load() - before; (got == 1) != c.refused {
				t.Errorf("refusals counted: %d", got)
			}
		})
	}
}

// TestPeerTLSReload: rotated files are picked up by the next handshake;
// a broken set keeps the last good one.
func TestPeerTLSReload(t *testing.T) {
	dir := t.TempDir()
	srvCA, cliCA, files := writeSet(t, dir)
	p, err := newPeerTLS(config.GRPCTLS{
		CertFile: files.Cert, KeyFile: files.Key, ClientCAFile: files.ClientCA,
		AllowedSANs: []string{"envoy.test"},
	}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	old := client(t, srvCA, cliCA, testpki.Leaf{DNSNames: []string{"envoy.test"}})
	if err := handshake(t, p, old); err != nil {
		t.Fatal(err)
	}

	// Rotate to a new server certificate and client CA. Modification
	// times may not move within the file system's granularity; the size
	// or an explicit mtime does.
	next := t.TempDir()
	srvCA2, cliCA2, files2 := writeSet(t, next)
	for _, f := range [][2]string{{files2.Cert, files.Cert}, {files2.Key, files.Key}, {files2.ClientCA, files.ClientCA}} {
		data, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f[1], data, 0o600); err != nil {
			t.Fatal(err)
		}
		future := time.Now().Add(time.Minute)
		if err := os.Chtimes(f[1], future, future); err != nil {
			t.Fatal(err)
		}
	}
	if err := handshake(t, p, old); err == nil {
		t.Fatal("a client of the retired CA was admitted after rotation")
	}
	fresh := client(t, srvCA2, cliCA2, testpki.Leaf{DNSNames: []string{"envoy.test"}})
	if err := handshake(t, p, fresh); err != nil {
		t.Fatalf("rotated set: %v", err)
	}

	// A half-written key: the last good set stays in force.
	if err := os.WriteFile(files.Key, []byte("-----BEGIN PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := handshake(t, p, fresh); err != nil {
		t.Fatalf("broken rotation dropped the good set: %v", err)
	}
}

func TestNewPeerTLSRejectsBrokenFiles(t *testing.T) {
	dir := t.TempDir()
	_, _, files := writeSet(t, dir)
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]config.GRPCTLS{
		"missing key": {CertFile: files.Cert, KeyFile: filepath.Join(dir, "nope"), ClientCAFile: files.ClientCA, AllowedSANs: []string{"a"}},
		"bad ca":      {CertFile: files.Cert, KeyFile: files.Key, ClientCAFile: bad, AllowedSANs: []string{"a"}},
		"bad cert":    {CertFile: bad, KeyFile: files.Key, ClientCAFile: files.ClientCA, AllowedSANs: []string{"a"}},
		"no sans":     {CertFile: files.Cert, KeyFile: files.Key, ClientCAFile: files.ClientCA},
	} {
		if _, err := newPeerTLS(c, slog.New(slog.DiscardHandler), nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestListenUnix(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.sock")
	ln, err := listenUnix(path, 0o660)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o660 || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("socket: %v %v", fi, err)
	}
	if grpcAddr(ln) != "unix://"+path {
		t.Errorf("grpcAddr = %q", grpcAddr(ln))
	}
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	if _, err := listenUnix(path, 0o600); err == nil {
		t.Fatal("took over a live socket")
	}
	ln.Close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket left behind: %v", err)
	}

	// A stale socket (its server died without removing it) is replaced.
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	ln2, err := listenUnix(path, 0o600)
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	ln2.Close()

	plain := filepath.Join(dir, "file")
	if err := os.WriteFile(plain, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := listenUnix(plain, 0o600); err == nil {
		t.Fatal("replaced a regular file")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary sockets left behind: %v", entries)
	}
}
