package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/telemetry"
	"github.com/mcpguard/mcpguard/test/fakeidp"
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

// TestReadyzNamesProvidersWithoutKeys: /readyz is 200 once any provider
// has keys, and names those that have none; with none at all it is 503
// and names them all.
func TestReadyzNamesProvidersWithoutKeys(t *testing.T) {
	up, err := fakeidp.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	down, err := fakeidp.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { down.Close() })
	down.SetDown(true)
	opts := []authn.Options{
		{Name: "okta", Issuer: up.URL(), JWKSURL: up.JWKSURL(), Audiences: []string{"aws-mcp"}},
		{Name: "contractors", Issuer: down.URL(), JWKSURL: down.JWKSURL(), Audiences: []string{"aws-mcp"}},
	}
	readyz := func(m *authn.Multi) (int, string) {
		g := &Gateway{cfg: config.Default(), metrics: telemetry.NewMetrics(), authn: m}
		rec := httptest.NewRecorder()
		g.adminHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code, rec.Body.String()
	}

	none, err := authn.NewMulti(t.Context(), []authn.Options{opts[1], {Name: "ci", Issuer: down.URL() + "/ci", JWKSURL: down.JWKSURL(), Audiences: []string{"aws-mcp"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(none.Close)
	if code, body := readyz(none); code != http.StatusServiceUnavailable || body != "not ready: identity provider keys not loaded: contractors, ci\n" {
		t.Errorf("no provider with keys: %d %q", code, body)
	}

	m, err := authn.NewMulti(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	if err := m.Providers()[0].Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if code, body := readyz(m); code != http.StatusOK || body != "ready\nidentity provider keys not loaded: contractors\n" {
		t.Errorf("one provider with keys: %d %q", code, body)
	}

	down.SetDown(false)
	if err := m.Providers()[1].Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if code, body := readyz(m); code != http.StatusOK || body != "ready\n" {
		t.Errorf("every provider with keys: %d %q", code, body)
	}
}
