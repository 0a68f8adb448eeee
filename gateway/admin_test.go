package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/telemetry"
)

// TestPprofIsOptIn: the profiler is served only when server.pprof is set.
func TestPprofIsOptIn(t *testing.T) {
	for _, on := range []bool{false, true} {
		cfg := config.Default()
		cfg.Server.Pprof = on
		g := &Gateway{cfg: cfg, metrics: telemetry.NewMetrics()}
		h := g.adminHandler()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/pprof/", nil))
		if got := rec.Code == http.StatusOK; got != on {
			t.Errorf("pprof %v: /debug/pprof/ answered %d", on, rec.Code)
		}
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		if rec.Code != http.StatusOK {
			t.Errorf("/metrics answered %d", rec.Code)
		}
	}
}
