package envoysim

import (
	"strings"
	"testing"

	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
)

// BenchmarkProcessRequest measures one request and response phase over a
// loopback gRPC stream in mcpguard's mode (headers, buffered body, response
// headers): the fixed cost the simulator adds to end-to-end load tests.
func BenchmarkProcessRequest(b *testing.B) {
	_, conn := startProcessor(b, script(continueAll))
	f := newFilter(b, conn, Config{Filter: &extprocfilterv3.ExternalProcessor{ProcessingMode: mcpguardMode()}})
	req := postRequest(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	b.ReportAllocs()
	for b.Loop() {
		o := f.ProcessRequest(bg, req)
		if o.Immediate != nil {
			b.Fatalf("immediate %+v", o.Immediate)
		}
		ro := o.ProcessResponse(bg, &Response{Status: 200, Body: strings.NewReader("{}")})
		if ro.Status != 200 {
			b.Fatalf("status %d", ro.Status)
		}
	}
}
