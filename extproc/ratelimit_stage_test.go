package extproc

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mcpguard/mcpguard/ratelimit"
	"github.com/mcpguard/mcpguard/telemetry"
	"github.com/mcpguard/mcpguard/test/envoysim"
)

// TestRateLimitStage: an admitted request whose upstream answers 429 gets
// that 429 unchanged (and counted); the next one over the limit is
// answered by mcpguard with 429, Retry-After and a JSON-RPC error.
func TestRateLimitStage(t *testing.T) {
	m := telemetry.NewMetrics()
	lim, err := ratelimit.New(ratelimit.Options{Store: ratelimit.NewMemory(nil), Limits: []ratelimit.Limit{
		{Name: "per_user", Scope: ratelimit.ScopeUser, Rate: ratelimit.Rate{Limit: 1, Period: time.Hour, Burst: 1}},
	}, OnDecision: m.RateLimit})
	if err != nil {
		t.Fatal(err)
	}
	defer lim.Close()
	h := newHarness(t, func(o *Options) { o.Limiter = lim; o.Metrics = m })

	out := h.filter.ProcessRequest(context.Background(), post(toolCall, "authorization", "Bearer alice"))
	if out.Immediate != nil {
		t.Fatalf("first request refused: %d %s", out.Immediate.Status, out.Immediate.Body)
	}
	ro := out.ProcessResponse(context.Background(), &envoysim.Response{Status: 429,
		Headers: []envoysim.Header{{Key: ":status", Value: "429"}, {Key: "content-type", Value: "application/json"}}, Body: strings.NewReader(`{}`)})
	if ro.Immediate != nil || ro.Status != 429 {
		t.Fatalf("upstream 429 not passed through: %+v", ro)
	}

	out = h.filter.ProcessRequest(context.Background(), post(toolCall, "authorization", "Bearer alice"))
	defer out.Close()
	if out.Immediate == nil || out.Immediate.Status != 429 {
		t.Fatalf("second request: %+v, want 429 from mcpguard", out.Immediate)
	}
	if ra, ok := envoysim.Get(out.Immediate.Headers, "retry-after"); !ok || ra == "0" {
		t.Errorf("retry-after = %q", ra)
	}
	if b := string(out.Immediate.Body); !strings.Contains(b, `"code":-32006`) || !strings.Contains(b, "rate_limited") {
		t.Errorf("body = %s", b)
	}
	if got := gather(t, m, "mcpguard_upstream_throttled_total"); got != 1 {
		t.Errorf("upstream 429s counted %v, want 1", got)
	}
	if got := gather(t, m, "mcpguard_ratelimit_decisions_total"); got != 2 {
		t.Errorf("decisions counted %v, want 2", got)
	}
}

// gather sums every series of a metric family.
func gather(t *testing.T, m *telemetry.Metrics, name string) float64 {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			sum += s.GetCounter().GetValue()
		}
	}
	return sum
}
