package envoysim

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// The connection manager of Envoy 1.36+ (use_remote_address: true) treats
// no client as internal unless internal_address_config names it, loopback
// included, and regenerates an external client's x-request-id unless
// preserve_external_request_id; the peer address is the source.address
// attribute, "ip:port" as Envoy formats it.
func TestFrontConnectionManager(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	tests := []struct {
		name         string
		cfg          FrontConfig
		keepClientID bool
		internal     bool
	}{
		{"external by default", FrontConfig{}, false, false},
		{"internal when configured", FrontConfig{InternalAddresses: loopback}, true, true},
		{"preserve_external_request_id", FrontConfig{PreserveExternalRequestID: true}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, conn := startProcessor(t, script(continueAll))
			f := newFilter(t, conn, Config{Filter: &extprocfilterv3.ExternalProcessor{
				ProcessingMode: mcpguardMode(), RequestAttributes: []string{"source.address"},
			}})
			up, seen := recordingUpstream(t, func(w http.ResponseWriter, r *http.Request) {})
			cfg := tt.cfg
			cfg.Filter, cfg.Upstream = f, up.URL
			fr, exchanges := newFront(t, cfg)

			locals := make(chan string, 1)
			client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
				if err == nil {
					locals <- c.LocalAddr().String()
				}
				return c, err
			}}}
			req, _ := http.NewRequestWithContext(t.Context(), "POST", fr.URL()+"/mcp", strings.NewReader("{}"))
			req.Header.Set("X-Request-Id", "client-chosen")
			req.Header.Set("X-Envoy-Internal", "true")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			<-exchanges
			local := <-locals

			h := seen()[0].header
			if got := h.Get("X-Request-Id"); (got == "client-chosen") != tt.keepClientID || !tt.keepClientID && !uuidRE.MatchString(got) {
				t.Errorf("x-request-id %q (keep client's: %v)", got, tt.keepClientID)
			}
			if got := h.Get("X-Envoy-Internal"); (got == "true") != tt.internal {
				t.Errorf("x-envoy-internal %q, want internal=%v", got, tt.internal)
			}
			attrs := p.messages()[0].GetAttributes()[FilterName].GetFields()
			if got := attrs["source.address"].GetStringValue(); got != local || local == "" {
				t.Errorf("source.address %q, want the client's %q", got, local)
			}
		})
	}
}

// Filter::onTrailers: with a BUFFERED body and trailers, Envoy learns the
// body is complete only when the trailers arrive and sends it without
// end_of_stream; with request_trailer_mode SKIP the trailers themselves go
// to the upstream without reaching the processor.
func TestFrontRequestTrailers(t *testing.T) {
	p, conn := startProcessor(t, script(continueAll))
	f := newFilter(t, conn, Config{Filter: &extprocfilterv3.ExternalProcessor{ProcessingMode: mcpguardMode()}})
	trailers := make(chan http.Header, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		trailers <- r.Trailer.Clone()
	}))
	t.Cleanup(up.Close)
	fr, exchanges := newFront(t, FrontConfig{Filter: f, Upstream: up.URL})

	req, _ := http.NewRequestWithContext(t.Context(), "POST", fr.URL()+"/mcp", io.NopCloser(strings.NewReader(`{"a":1}`)))
	req.ContentLength = -1
	req.Trailer = http.Header{"X-Checksum": {"abc"}}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ex := <-exchanges
	wantKinds(t, ex.Log, "send:request_headers", "recv:request_headers", "send:request_body", "recv:request_body", "send:response_headers", "recv:response_headers")
	msgs := p.messages()
	if msgs[0].GetRequestHeaders().GetEndOfStream() {
		t.Error("headers of a request with a body and trailers sent with end_of_stream")
	}
	var body *extprocv3.HttpBody
	for _, m := range msgs {
		if b := m.GetRequestBody(); b != nil {
			body = b
		}
	}
	if body == nil || body.GetEndOfStream() || string(body.GetBody()) != `{"a":1}` {
		t.Errorf("request body message %v, want the whole body without end_of_stream", body)
	}
	if got := (<-trailers).Get("X-Checksum"); got != "abc" {
		t.Errorf("upstream trailer %q", got)
	}
}
