package stack_test

import (
	"testing"

	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"

	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/envoy"
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
