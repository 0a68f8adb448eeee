package stack_test

import (
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"

	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/envoy"
	"github.com/mcpguard/mcpguard/test/fakeidp"
	"github.com/mcpguard/mcpguard/test/stack"
)

// The Envoy stand-in of every end-to-end test runs the ext_proc filter and
// buffer limit the bootstrap generator writes into production's listener,
// read back out of the generated bootstrap: change a mutation rule,
// timeout or mode in the generator alone, or give the stack its own
// filter, and this fails.
func TestStackRunsGeneratedFilter(t *testing.T) {
	s, err := stack.Start(t.Context(), stack.Options{ConfigPath: "../../examples/quickstart/config.yaml", Ephemeral: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)

	b, err := envoy.Bootstrap(s.Config, envoy.BootstrapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ln := b.GetStaticResources().GetListeners()[0]
	hcm := &hcmv3.HttpConnectionManager{}
	if err := ln.GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(hcm); err != nil {
		t.Fatal(err)
	}
	var generated *extprocfilterv3.ExternalProcessor
	for _, f := range hcm.GetHttpFilters() {
		if f.GetName() == envoy.FilterExtProc {
			generated = &extprocfilterv3.ExternalProcessor{}
			if err := f.GetTypedConfig().UnmarshalTo(generated); err != nil {
				t.Fatal(err)
			}
		}
	}
	if generated == nil {
		t.Fatal("generated bootstrap has no ext_proc filter")
	}
	if got := s.Filter.Config(); !proto.Equal(got, generated) {
		t.Errorf("stack's envoysim filter differs from the generated one:\n stack     %v\n generated %v", got, generated)
	}
	if got, want := s.Filter.BufferLimit(), int(ln.GetPerConnectionBufferLimitBytes().GetValue()); got != want {
		t.Errorf("stack buffer limit %d, generated listener %d", got, want)
	}
}

// EnvoyFilter follows the configuration: envoy_metadata forwards the
// jwt_authn namespace, as the generated filter does.
func TestEnvoyFilterFollowsConfig(t *testing.T) {
	cfg := config.Default()
	cfg.OIDC.TokenSource = config.TokenSourceEnvoyMetadata
	got := stack.EnvoyFilter(cfg).GetMetadataOptions().GetForwardingNamespaces().GetUntyped()
	if len(got) != 1 || got[0] != envoy.FilterJWTAuthn {
		t.Errorf("forwarding namespaces %v, want [%s]", got, envoy.FilterJWTAuthn)
	}
}

// With Options.Process mcpguard runs as `mcpguard serve` from the file the
// stack writes: a user's request goes through the stand-in into that
// process, which reaches the fake STS and AWS, and a forged token is
// refused there.
func TestStackProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the mcpguard binary")
	}
	s, err := stack.Start(t.Context(), stack.Options{
		ConfigPath:  "../../examples/quickstart/config.yaml",
		Ephemeral:   true,
		FakeAWSJSON: true,
		Process:     &stack.Process{},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if s.Gateway != nil || s.PID() == 0 {
		t.Fatalf("gateway %v, pid %d: want no in-process gateway and a child", s.Gateway, s.PID())
	}
	if s.Config.Server.GRPCListen == "127.0.0.1:18002" || s.Config.STS.STSEndpoint != s.STS.URL() || s.Config.OIDC.Issuer != s.IdP.URL() {
		t.Errorf("written configuration not pointed at the stack: %+v %s %s", s.Config.Server, s.Config.STS.STSEndpoint, s.Config.OIDC.Issuer)
	}
	if s.Config.OIDC.ResourceMetadata.Resource != "" {
		t.Errorf("resource metadata %q kept from the file", s.Config.OIDC.ResourceMetadata.Resource)
	}
	initialize := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	post := func(tok string) int {
		t.Helper()
		resp, err := s.Post(t.Context(), tok, initialize)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	tok, err := s.LoginToken(stack.Alice)
	if err != nil {
		t.Fatal(err)
	}
	if st := post(tok); st != http.StatusOK {
		t.Errorf("initialize as alice: %d, want 200\n%s", st, s.ProcessLog(2000))
	}
	forged, err := s.IdP.Mint(s.Claims(stack.Alice), fakeidp.WithForeignKey())
	if err != nil {
		t.Fatal(err)
	}
	if st := post(forged); st != http.StatusUnauthorized {
		t.Errorf("forged token: %d, want 401", st)
	}
	if len(s.STS.Calls()) != 1 {
		t.Errorf("%d STS calls, want 1", len(s.STS.Calls()))
	}
	m, err := stack.Metrics(s.AdminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if m["go_goroutines"] == 0 {
		t.Error("no go_goroutines in the process's metrics")
	}
	if _, ok := m["go_cpu_classes_gc_total_cpu_seconds_total"]; !ok {
		t.Error("no go_cpu_classes_gc_total_cpu_seconds_total (the collector's CPU, which test/load reads) in the process's metrics")
	}
	if err := s.Restart(t.Context(), stack.RestartOptions{}); err == nil {
		t.Error("Restart of a process stack succeeded")
	}
	cfgFile := s.ConfigFile()
	s.Close()
	if _, err := os.Stat(cfgFile); !os.IsNotExist(err) {
		t.Errorf("written configuration %s left behind: %v", cfgFile, err)
	}
}

// Options a separate process cannot honour are refused, not ignored.
func TestStackProcessRefusesInProcessOptions(t *testing.T) {
	for name, o := range map[string]stack.Options{
		"not ephemeral": {Process: &stack.Process{}},
		"mutate":        {Ephemeral: true, Process: &stack.Process{}, Mutate: func(*config.Config) {}},
		"clock":         {Ephemeral: true, Process: &stack.Process{}, Now: time.Now},
	} {
		o.ConfigPath = "../../examples/quickstart/config.yaml"
		if s, err := stack.Start(t.Context(), o); err == nil {
			s.Close()
			t.Errorf("%s: started", name)
		}
	}
}
