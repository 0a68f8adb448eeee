package telemetry

import (
	"net/http"
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the gateway's metric set. A nil *Metrics is valid and records
// nothing, so packages and tests need no registry.
type Metrics struct {
	reg *prometheus.Registry

	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	authnFailures   *prometheus.CounterVec
	authzDecisions  *prometheus.CounterVec
	stsRequests     *prometheus.CounterVec
	stsDuration     prometheus.Histogram
	credCache       *prometheus.CounterVec
	credEntries     prometheus.Gauge
	jwksRefreshes   *prometheus.CounterVec
	policyReloads   *prometheus.CounterVec
	shadowDecisions *prometheus.CounterVec
	auditEvents     *prometheus.CounterVec
	auditFailures   prometheus.Counter
	streams         prometheus.Gauge
	peersRefused    prometheus.Counter
	rateLimits      *rateLimitMetrics

	// The children of the vectors every request records (children.go).
	requestsBy       *children[[2]string, prometheus.Counter]
	phaseBy          *children[string, prometheus.Observer]
	authzDecisionsBy *children[[2]string, prometheus.Counter]
	credCacheBy      *children[string, prometheus.Counter]
	auditEventsBy    *children[[2]string, prometheus.Counter]
}

// latencyBuckets span 50µs to ~6.5s: the warm path is tens of microseconds,
// an STS call is tens to hundreds of milliseconds.
var latencyBuckets = prometheus.ExponentialBuckets(0.00005, 2, 18)

// NewMetrics registers the full metric set, plus the Go and process
// collectors, on a new private registry.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcpguard_requests_total",
			Help: "HTTP requests processed, by MCP method (known methods or other) and outcome.",
		}, []string{"method", "outcome"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mcpguard_request_duration_seconds",
			Help:    "Time mcpguard spent processing a request, by phase (headers, body, total).",
			Buckets: latencyBuckets,
		}, []string{"phase"}),
		authnFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcpguard_authn_failures_total",
			Help: "Requests refused by authentication, by identity provider (oidc_providers name; empty with oidc_config or when the token names no configured provider) and reason.",
		}, []string{"provider", "reason"}),
		authzDecisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcpguard_authz_decisions_total",
			Help: "Cedar authorization decisions, by action (known methods or other) and decision.",
		}, []string{"action", "decision"}),
		stsRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcpguard_sts_requests_total",
			Help: "AssumeRoleWithWebIdentity calls, by outcome.",
		}, []string{"outcome"}),
		stsDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mcpguard_sts_request_duration_seconds",
			Help:    "Duration of AssumeRoleWithWebIdentity calls, retries included.",
			Buckets: latencyBuckets,
		}),
		credCache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcpguard_credentials_cache_requests_total",
			Help: "Credential cache lookups, by result (hit, miss, refresh).",
		}, []string{"result"}),
		credEntries: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mcpguard_credentials_cache_entries",
			Help: "Credential sets currently cached.",
		}),
		jwksRefreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcpguard_jwks_refreshes_total",
			Help: "JWKS fetches from the identity providers, by provider (oidc_providers name; empty with oidc_config) and outcome.",
		}, []string{"provider", "outcome"}),
		policyReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcpguard_policy_reloads_total",
			Help: "Cedar policy set loads, by outcome; a failed reload keeps the last good set.",
		}, []string{"outcome"}),
		shadowDecisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcpguard_authz_shadow_decisions_total",
			Help: "Requests also decided by the shadow policy set, by how it compared: agree, would_allow (the set in force denied), would_deny (the set in force allowed).",
		}, []string{"result"}),
		auditEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcpguard_audit_events_total",
			Help: "Audit events written, by type and outcome.",
		}, []string{"type", "outcome"}),
		auditFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mcpguard_audit_write_failures_total",
			Help: "Audit events that could not be written.",
		}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mcpguard_extproc_streams_active",
			Help: "ext_proc streams currently open.",
		}),
		peersRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mcpguard_grpc_peers_refused_total",
			Help: "TLS handshakes on the ext_proc listener refused because the client certificate names no allowed SAN.",
		}),
	}
	reg.MustRegister(
		m.requests, m.requestDuration, m.authnFailures, m.authzDecisions,
		m.stsRequests, m.stsDuration, m.credCache, m.credEntries,
		m.jwksRefreshes, m.policyReloads, m.shadowDecisions, m.auditEvents, m.auditFailures, m.streams, m.peersRefused,
		// The runtime's estimate of where CPU time goes (the collector's
		// share above all: go_cpu_classes_gc_total_cpu_seconds_total), beside
		// the default Go metrics.
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
			collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/cpu/classes/`)})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.rateLimits = newRateLimitMetrics(reg)
	m.requestsBy = counters2(m.requests)
	m.phaseBy = observers1(m.requestDuration)
	m.authzDecisionsBy = counters2(m.authzDecisions)
	m.credCacheBy = counters1(m.credCache)
	m.auditEventsBy = counters2(m.auditEvents)
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry exposes the private registry for tests that gather values.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// Request counts one finished HTTP request.
func (m *Metrics) Request(method, outcome string) {
	if m != nil {
		m.requestsBy.of([2]string{method, outcome}).Inc()
	}
}

// Phase observes the processing time of one phase (headers, body, total).
func (m *Metrics) Phase(phase string, d time.Duration) {
	if m != nil {
		m.phaseBy.of(phase).Observe(d.Seconds())
	}
}

// AuthnFailure counts a refused authentication by provider and bounded
// reason. provider is a configured oidc_providers name (never the
// token's iss, which the caller chooses), so the label stays bounded; ""
// when the failure cannot be attributed to one.
func (m *Metrics) AuthnFailure(provider, reason string) {
	if m != nil {
		if reason == "" {
			reason = "other"
		}
		m.authnFailures.WithLabelValues(provider, reason).Inc()
	}
}

// AuthzDecision counts a Cedar decision.
func (m *Metrics) AuthzDecision(action string, allow bool) {
	if m != nil {
		d := "deny"
		if allow {
			d = "allow"
		}
		m.authzDecisionsBy.of([2]string{action, d}).Inc()
	}
}

// STSRequest counts an STS call and its duration.
func (m *Metrics) STSRequest(outcome string, d time.Duration) {
	if m != nil {
		m.stsRequests.WithLabelValues(outcome).Inc()
		m.stsDuration.Observe(d.Seconds())
	}
}

// CredentialCache counts a credential cache lookup (hit, miss, refresh).
func (m *Metrics) CredentialCache(result string) {
	if m != nil {
		m.credCacheBy.of(result).Inc()
	}
}

// CredentialEntries sets the number of cached credential sets.
func (m *Metrics) CredentialEntries(n int) {
	if m != nil {
		m.credEntries.Set(float64(n))
	}
}

// JWKSRefresh counts a JWKS fetch of the provider called provider ("" for
// oidc_config), so one IdP's key-set outage shows as that IdP's.
func (m *Metrics) JWKSRefresh(provider string, ok bool) {
	if m != nil {
		m.jwksRefreshes.WithLabelValues(provider, outcomeLabel(ok)).Inc()
	}
}

// PolicyReload counts a policy set load.
func (m *Metrics) PolicyReload(ok bool) {
	if m != nil {
		m.policyReloads.WithLabelValues(outcomeLabel(ok)).Inc()
	}
}

// AuthzShadow counts a shadow policy evaluation by result (agree,
// would_allow, would_deny; the authz package's Shadow* constants).
func (m *Metrics) AuthzShadow(result string) {
	if m != nil {
		m.shadowDecisions.WithLabelValues(result).Inc()
	}
}

// AuditEvent counts a written audit event.
func (m *Metrics) AuditEvent(typ, outcome string) {
	if m != nil {
		m.auditEventsBy.of([2]string{typ, outcome}).Inc()
	}
}

// AuditWriteFailure counts an audit event that could not be written.
func (m *Metrics) AuditWriteFailure() {
	if m != nil {
		m.auditFailures.Inc()
	}
}

// StreamOpened and StreamClosed track open ext_proc streams.
func (m *Metrics) StreamOpened() {
	if m != nil {
		m.streams.Inc()
	}
}

// StreamClosed is the counterpart of StreamOpened.
func (m *Metrics) StreamClosed() {
	if m != nil {
		m.streams.Dec()
	}
}

func outcomeLabel(ok bool) string {
	if ok {
		return "success"
	}
	return "failure"
}

// PeerRefused counts an ext_proc peer refused at the TLS handshake.
func (m *Metrics) PeerRefused() {
	if m != nil {
		m.peersRefused.Inc()
	}
}
