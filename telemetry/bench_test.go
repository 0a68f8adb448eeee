package telemetry

import (
	"testing"
	"time"
)

// BenchmarkExchangeMetrics records what one allowed tools/call exchange
// does: three phase durations, the decision, the cache lookup, the request
// and its two audit events, and one rate limit decision.
func BenchmarkExchangeMetrics(b *testing.B) {
	m := NewMetrics()
	b.ReportAllocs()
	for b.Loop() {
		m.Phase("headers", time.Microsecond)
		m.CredentialCache("hit")
		m.AuthzDecision("tools/call", true)
		m.RateLimit("per_user", "allowed")
		m.AuditEvent("mcp_request", "forwarded")
		m.Phase("body", time.Microsecond)
		m.AuditEvent("mcp_response", "success")
		m.Request("tools/call", "success")
		m.Phase("total", time.Microsecond)
	}
}
