package telemetry

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Authentication metrics carry the provider: one IdP's failures and key
// fetches are told apart from another's, and the single oidc_config
// issuer is the empty provider.
func TestAuthnMetricsByProvider(t *testing.T) {
	m := NewMetrics()
	m.AuthnFailure("okta", "expired")
	m.AuthnFailure("okta", "expired")
	m.AuthnFailure("", "")
	m.JWKSRefresh("contractors", false)
	m.JWKSRefresh("okta", true)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`mcpguard_authn_failures_total{provider="okta",reason="expired"} 2`,
		`mcpguard_authn_failures_total{provider="",reason="other"} 1`,
		`mcpguard_jwks_refreshes_total{outcome="failure",provider="contractors"} 1`,
		`mcpguard_jwks_refreshes_total{outcome="success",provider="okta"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	var nilM *Metrics
	nilM.AuthnFailure("okta", "expired") // a nil Metrics records nothing
	nilM.JWKSRefresh("okta", true)
}
