package telemetry

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// rateLimitMetrics are the metrics of the quota stage. Limit names come
// from configuration, so the label values are bounded.
type rateLimitMetrics struct {
	decisions *prometheus.CounterVec
	queueWait *prometheus.HistogramVec
	throttled *prometheus.CounterVec
	// decisionsBy are decisions' children (children.go).
	decisionsBy *children[[2]string, prometheus.Counter]
}

func newRateLimitMetrics(reg *prometheus.Registry) *rateLimitMetrics {
	r := &rateLimitMetrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcpguard_ratelimit_decisions_total",
			Help: "Rate limit decisions, by limit and result (allowed, queued, rejected, store_error).",
		}, []string{"limit", "result"}),
		queueWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mcpguard_ratelimit_queue_seconds",
			Help:    "Time requests waited in a limit's fair queue, granted or not.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"limit"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcpguard_upstream_throttled_total",
			Help: "429 answers of the upstream itself (passed through unchanged), by upstream.",
		}, []string{"upstream"}),
	}
	reg.MustRegister(r.decisions, r.queueWait, r.throttled)
	r.decisionsBy = counters2(r.decisions)
	return r
}

// RateLimit counts one decision of a limit.
func (m *Metrics) RateLimit(limit, result string) {
	if m != nil {
		m.rateLimits.decisionsBy.of([2]string{limit, result}).Inc()
	}
}

// RateLimitQueue observes one queued request's wait.
func (m *Metrics) RateLimitQueue(limit string, d time.Duration) {
	if m != nil {
		m.rateLimits.queueWait.WithLabelValues(limit).Observe(d.Seconds())
	}
}

// UpstreamThrottled counts a 429 from the upstream.
func (m *Metrics) UpstreamThrottled(upstream string) {
	if m != nil {
		m.rateLimits.throttled.WithLabelValues(upstream).Inc()
	}
}
