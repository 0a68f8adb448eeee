package stack

import (
	"context"
	"errors"
	"fmt"

	"github.com/mcpguard/mcpguard/gateway"
)

// RestartOptions choose how Restart brings mcpguard back.
type RestartOptions struct {
	// Gateway are the new instance's injected dependencies (logger, clock).
	Gateway gateway.Options
	// NoWait returns as soon as the new instance serves gRPC, without
	// waiting until it is ready (JWKS fetched), for tests of a start while a
	// dependency is down.
	NoWait bool
}

// Restart stops mcpguard as SIGTERM would (in-flight streams get
// server.shutdown_grace to finish) and starts a new instance on the same
// gRPC address, so the Envoy stand-in keeps its cluster address and
// reconnects exactly as Envoy does after a rolling restart. The other
// components keep running.
func (s *Stack) Restart(ctx context.Context, o RestartOptions) error {
	if s.Gateway == nil {
		return errors.New("restart: mcpguard runs in its own process (Options.Process)")
	}
	addr := s.Gateway.GRPCAddr()
	s.cancel()
	err := <-s.done
	s.cancel = nil
	if err != nil {
		return fmt.Errorf("stop mcpguard: %w", err)
	}

	cfg := *s.Config
	cfg.Server.GRPCListen = addr
	cfg.Server.AdminListen = "127.0.0.1:0"
	g, err := gateway.New(ctx, &cfg, o.Gateway)
	if err != nil {
		return fmt.Errorf("restart mcpguard: %w", err)
	}
	s.Gateway = g
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.done = make(chan error, 1)
	go func() { s.done <- g.Run(runCtx) }()
	if o.NoWait {
		return nil
	}
	return s.waitReady(ctx)
}
