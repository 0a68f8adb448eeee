package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
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
	// The same message size limit mcpguard's server sets, so both run
	// with the same gRPC settings.
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(4 << 20))
	extprocv3.RegisterExternalProcessorServer(srv, bare.Server{})
	mln, err := net.Listen("tcp", *metricsListen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(serveAllocs), ReadHeaderTimeout: 5 * time.Second}
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
}
