package gateway

import (
	"net/http"
	"net/http/pprof"
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
		if !g.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: identity provider keys not loaded\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
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
