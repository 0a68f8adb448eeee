// Package telemetry owns mcpguard's Prometheus metrics (on a private
// registry, never the global one) and the OpenTelemetry tracer setup.
//
// Metric names follow the Prometheus naming guide:
// mcpguard_<subsystem>_<name>, counters end in _total, durations are
// histograms in seconds. Every label takes values from a bounded set that
// the caller normalises (known MCP methods or "other", fixed reason lists),
// so a hostile client cannot grow the series count.
//
// It must not import extproc or any domain package: they call its methods.
package telemetry
