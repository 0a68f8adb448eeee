package gateway

import (
	"net/http"
	"net/http/pprof"
	"strings"
)

// adminHandler serves probes, metrics and the RFC 9728 document. It is
// meant for operators and the orchestrator, never for MCP clients.
func (g *Gateway) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("content-type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("content-type", "text/plain; charset=utf-8")
		if g.draining.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("draining: shutting down\n"))
			return
		}
		down := g.providersWithoutKeys()
		if !g.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: identity provider keys not loaded" + down + "\n"))
			return
		}
		// Ready once any provider has keys (one IdP's outage must not
		// take the others' users down), but say which still have none.
		_, _ = w.Write([]byte("ready\n"))
		if down != "" {
			_, _ = w.Write([]byte("identity provider keys not loaded" + down + "\n"))
		}
	})
	mux.Handle("GET /metrics", g.metrics.Handler())
	mux.HandleFunc("GET /.well-known/oauth-protected-resource/", g.serveResourceMetadata)
	mux.HandleFunc("GET /.well-known/oauth-protected-resource", g.serveResourceMetadata)
	if g.cfg.Server.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

func (g *Gateway) serveResourceMetadata(w http.ResponseWriter, r *http.Request) {
	doc := g.authn.ProtectedResourceMetadata()
	if doc == nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("content-type", "application/json")
	w.Header().Set("cache-control", "max-age=3600")
	_, _ = w.Write(doc)
}

// providersWithoutKeys is ": a, b" naming the oidc_providers that have no
// key set yet, or "" when every one has keys (or the single oidc_config
// issuer is meant, which has no name to report).
func (g *Gateway) providersWithoutKeys() string {
	if g.authn == nil {
		return ""
	}
	var names []string
	for _, n := range g.authn.NotReady() {
		if n != "" {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return ": " + strings.Join(names, ", ")
}
