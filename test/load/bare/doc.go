// Package bare is the floor of the ext_proc protocol: a processor that
// answers every message with an empty CONTINUE of the matching type and
// does nothing else. What it costs is what the protocol itself costs, on
// the same machine at the same moment as mcpguard is measured. The load
// tool runs it as its own process; the exchange benchmarks run it
// in-process. It is a test tool and must not be imported by mcpguard.
package bare
