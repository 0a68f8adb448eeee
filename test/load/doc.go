// Command load measures what mcpguard costs on the request path. It starts,
// on loopback and through test/stack (Options.Process), the fake identity
// provider, STS and AWS MCP Server, an mcpguard serve process and its Envoy
// stand-in, and itself a bare ext_proc server process (one that
// answers CONTINUE to every message and does no work), then drives the same
// open-loop traffic through three Envoy stand-ins in turn:
//
//   - direct: envoysim forwards to the upstream with no ext_proc at all (the
//     baseline);
//   - bare: envoysim runs the ext_proc exchange against the bare server (the
//     protocol's own cost, the floor);
//   - mcpguard: envoysim runs the exchange against mcpguard.
//
// Requests are sent at a fixed arrival rate whatever the answers' latency
// (open loop), and each latency is measured from the request's scheduled
// start, so a stall is charged to every request it delays (no coordinated
// omission). Latencies go into HDR histograms. The server processes' CPU
// time comes from /proc/<pid>/stat and their peak RSS from
// /proc/<pid>/status. Results are written as results.json and a plot of
// latency percentiles against offered rate (latency.svg, latency.png).
//
// Baseline requests carry a SigV4 signature the tool computed beforehand
// with the same user's credentials, so the fake AWS MCP Server does the same
// work for every mode and the modes differ only in what ext_proc adds. They
// use an upstream MCP session of their own: the id a client sees through
// mcpguard is sealed, and only mcpguard can open it.
//
// Run it from the module root: go run ./test/load (make loadtest). It only
// talks to 127.0.0.1. It must not be imported; it imports test fakes and
// is a test tool, not part of mcpguard.
//
// "load bare -listen ADDR" runs the bare ext_proc server; the tool starts
// itself that way so the bare server's CPU is accounted separately, like
// mcpguard's.
package main
