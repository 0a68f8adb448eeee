package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"runtime/metrics"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"

	"github.com/mcpguard/mcpguard/test/load/bare"
)

// runBare is the "bare" subcommand: serve the bare processor on -listen
// until ctx ends. It prints the bound address on stdout so the parent can
// use -listen 127.0.0.1:0.
func runBare(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bare", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "gRPC listen address (loopback)")
	metricsListen := fs.String("metrics-listen", "127.0.0.1:0", "HTTP address of /metrics: the Go heap allocation counters mcpguard's /metrics also has (loopback)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// The message size limit and stream workers mcpguard's server sets
	// (gateway/gateway.go), so both run with the same gRPC settings: the
	// worker pool spares each stream a fresh goroutine's stack growth,
	// which is the protocol floor's saving as much as mcpguard's.
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(4<<20), grpc.NumStreamWorkers(uint32(8*runtime.GOMAXPROCS(0)))) //nolint:gosec // GOMAXPROCS is a small positive number
	extprocv3.RegisterExternalProcessorServer(srv, bare.Server{})
	mln, err := net.Listen("tcp", *metricsListen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// /debug/pprof/ lets the load tool profile the bare server as it does
	// mcpguard (-cpuprofile), on the same loopback-only listener.
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", serveAllocs)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(mln) }()
	fmt.Fprintln(stdout, ln.Addr().String(), mln.Addr().String())
	go func() {
		<-ctx.Done()
		srv.Stop()
		_ = hs.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// serveAllocs writes the process's cumulative heap allocation counters
// under the names the Prometheus Go collector gives them in mcpguard's
// /metrics, so the load tool reads both servers the same way.
func serveAllocs(w http.ResponseWriter, _ *http.Request) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, "# TYPE go_memstats_mallocs_total counter\ngo_memstats_mallocs_total %d\n", m.Mallocs)
	fmt.Fprintf(w, "# TYPE go_memstats_alloc_bytes_total counter\ngo_memstats_alloc_bytes_total %d\n", m.TotalAlloc)
	gc := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(gc)
	if gc[0].Value.Kind() == metrics.KindFloat64 {
		fmt.Fprintf(w, "# TYPE %s counter\n%s %g\n", gcCPUMetric, gcCPUMetric, gc[0].Value.Float64())
	}
}

// gcCPUMetric is the collector's CPU time as client_golang's Go collector
// names /cpu/classes/gc/total:cpu-seconds (telemetry/metrics.go exposes it).
const gcCPUMetric = "go_cpu_classes_gc_total_cpu_seconds_total"
