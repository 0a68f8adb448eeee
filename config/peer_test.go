package config

import (
	"strings"
	"testing"
)

func TestGRPCListenWarnings(t *testing.T) {
	dir := "testdata/valid"
	tls := "  grpc_tls: {cert_file: tls/server.pem, key_file: tls/server-key.pem, client_ca_file: tls/ca.pem, allowed_sans: [envoy.example.com]}\n"
	cases := []struct {
		name   string
		server string
		warn   bool
	}{
		{"default loopback", "", false},
		{"ipv6 loopback", "  grpc_listen: '[::1]:9002'\n", false},
		{"localhost", "  grpc_listen: 'localhost:9002'\n", false},
		{"all interfaces", "  grpc_listen: ':9002'\n", true},
		{"pod address", "  grpc_listen: '10.0.0.7:9002'\n", true},
		{"all interfaces with mTLS", "  grpc_listen: ':9002'\n" + tls, false},
		{"unix socket", "  grpc_listen: unix:///run/mcpguard/extproc.sock\n", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse([]byte(minimal+"server:\n"+c.server), dir)
			if err != nil {
				t.Fatal(err)
			}
			w := cfg.Warnings()
			if (len(w) > 0) != c.warn {
				t.Fatalf("warnings = %q, want warning %v", w, c.warn)
			}
			if c.warn && !strings.Contains(w[0], "server.grpc_tls") {
				t.Errorf("warning does not say how to fix it: %q", w[0])
			}
		})
	}
}

func TestPeerAuthenticated(t *testing.T) {
	cases := []struct {
		s    Server
		want bool
		sock string
	}{
		{Server{GRPCListen: "127.0.0.1:9002"}, false, ""},
		{Server{GRPCListen: "unix:///run/x.sock"}, true, "/run/x.sock"},
		{Server{GRPCListen: ":9002", GRPCTLS: GRPCTLS{CertFile: "c"}}, true, ""},
	}
	for _, c := range cases {
		if got := c.s.PeerAuthenticated(); got != c.want || c.s.GRPCSocket() != c.sock {
			t.Errorf("%+v: PeerAuthenticated %v socket %q", c.s, got, c.s.GRPCSocket())
		}
	}
}

func TestCheckGRPCListen(t *testing.T) {
	for s, ok := range map[string]bool{
		"127.0.0.1:9002":                      true,
		"unix:///run/mcpguard.sock":           true,
		"unix://run/mcpguard.sock":            false,
		"unix:///run/../x.sock":               false,
		"unix:///" + strings.Repeat("a", 120): false,
		"nohostport":                          false,
	} {
		if got := checkGRPCListen(s) == ""; got != ok {
			t.Errorf("checkGRPCListen(%q) ok = %v, want %v", s, got, ok)
		}
	}
}
