package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"

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
	fmt.Fprintln(stdout, ln.Addr().String())
	go func() {
		<-ctx.Done()
		srv.Stop()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
