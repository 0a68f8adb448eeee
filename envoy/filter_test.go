package envoy_test

import (
	"slices"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/proto"

	"github.com/mcpguard/mcpguard/envoy"
)

// The generated listener runs exactly ExtProcFilter, the message the test
// stack and the extproc tests give test/envoysim: a change to the filter in
// one place is a change everywhere, and any other drift fails here.
func TestBootstrapRunsExtProcFilter(t *testing.T) {
	for _, name := range []string{"tls.yaml", "metadata.yaml", "upstreams.yaml"} {
		t.Run(name, func(t *testing.T) {
			cfg := loadConfig(t, name)
			b, err := envoy.Bootstrap(cfg, envoy.BootstrapOptions{JWTAuthn: name == "metadata.yaml"})
			if err != nil {
				t.Fatal(err)
			}
			p := dig(t, b)
			if !proto.Equal(p.extProc, envoy.ExtProcFilter(cfg)) {
				t.Errorf("bootstrap's ext_proc filter is not ExtProcFilter(cfg):\n got  %v\n want %v", p.extProc, envoy.ExtProcFilter(cfg))
			}
			if ps := envoy.CheckExtProc("ExtProcFilter", envoy.ExtProcFilter(cfg)); len(ps) > 0 {
				t.Errorf("ExtProcFilter breaks the validator's rules: %v", ps)
			}
			want, err := envoy.BufferLimit(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := b.GetStaticResources().GetListeners()[0].GetPerConnectionBufferLimitBytes().GetValue(); got != want {
				t.Errorf("listener buffer limit %d, BufferLimit %d", got, want)
			}
		})
	}
}

// The standalone Envoy is an edge proxy: SSE routes are never cut for being
// quiet, header spellings that readers disagree on are refused, HTTP/2
// clients are bounded, the overload manager sheds load before the heap
// runs out, and ext_proc streams carry an authority without "|".
func TestBootstrapEdgeSettings(t *testing.T) {
	cfg := loadConfig(t, "upstreams.yaml")
	b, err := envoy.Bootstrap(cfg, envoy.BootstrapOptions{MaxHeapBytes: 256 << 20})
	if err != nil {
		t.Fatal(err)
	}
	p := dig(t, b)
	for name, r := range p.routes {
		ra := r.GetRoute()
		if ra == nil {
			continue
		}
		if ra.GetIdleTimeout() == nil || ra.GetIdleTimeout().AsDuration() != 0 {
			t.Errorf("route %s: idle_timeout %v, want 0s (SSE streams are quiet between events; stream_idle_timeout would cut them)", name, ra.GetIdleTimeout())
		}
	}
	if got := p.hcm.GetCommonHttpProtocolOptions().GetHeadersWithUnderscoresAction(); got != corev3.HttpProtocolOptions_REJECT_REQUEST {
		t.Errorf("headers_with_underscores_action %v, want REJECT_REQUEST", got)
	}
	h2 := p.hcm.GetHttp2ProtocolOptions()
	if h2.GetMaxConcurrentStreams().GetValue() == 0 || h2.GetInitialStreamWindowSize().GetValue() == 0 || h2.GetInitialConnectionWindowSize().GetValue() == 0 {
		t.Errorf("http2_protocol_options %v: want max_concurrent_streams and window sizes bounded", h2)
	}
	if p.hcm.GetRequestHeadersTimeout().AsDuration() == 0 {
		t.Error("request_headers_timeout unset: a client may trickle headers forever")
	}
	om := b.GetOverloadManager()
	var monitors, actions []string
	for _, m := range om.GetResourceMonitors() {
		monitors = append(monitors, m.GetName())
	}
	for _, a := range om.GetActions() {
		actions = append(actions, a.GetName())
	}
	for _, want := range []string{"envoy.resource_monitors.fixed_heap", "envoy.resource_monitors.global_downstream_max_connections"} {
		if !slices.Contains(monitors, want) {
			t.Errorf("overload manager monitors %v lack %s", monitors, want)
		}
	}
	for _, want := range []string{"envoy.overload_actions.shrink_heap", "envoy.overload_actions.stop_accepting_requests"} {
		if !slices.Contains(actions, want) {
			t.Errorf("overload manager actions %v lack %s", actions, want)
		}
	}
	if a := p.extProc.GetGrpcService().GetEnvoyGrpc().GetAuthority(); a == "" {
		t.Error("ext_proc envoy_grpc has no authority: Envoy would send the cluster name")
	}
}
