package extproc

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/mcpguard/mcpguard/test/envoysim"
)

// headerMap renders a request's headers as Envoy sends them.
func headerMap(r *envoysim.Request) *corev3.HeaderMap {
	hm := &corev3.HeaderMap{}
	add := func(k, v string) {
		hm.Headers = append(hm.Headers, &corev3.HeaderValue{Key: k, RawValue: []byte(v)})
	}
	add(":method", r.Method)
	add(":scheme", r.Scheme)
	add(":authority", r.Authority)
	add(":path", r.Path)
	for _, h := range r.Headers {
		add(h.Key, h.Value)
	}
	return hm
}
