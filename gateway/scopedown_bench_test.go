package gateway_test

import (
	"context"
	"io"
	"testing"

	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/test/stack"
)

// BenchmarkExchangeScopeDown is BenchmarkExchange/mcpguard's warm path
// with the mapping's session and with scope_down request, side by side,
// for the CPU a per-request session costs once its set is cached.
func BenchmarkExchangeScopeDown(b *testing.B) {
	for _, mode := range []string{config.ScopeDownMapping, config.ScopeDownRequest} {
		b.Run(mode, func(b *testing.B) {
			s, err := stack.Start(context.Background(), stack.Options{
				ConfigPath:  "../examples/quickstart/config.yaml",
				Ephemeral:   true,
				AuditWriter: io.Discard,
				Mutate:      func(c *config.Config) { c.STS.ScopeDown = mode },
			})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			tok, err := s.Token(stack.Alice)
			if err != nil {
				b.Fatal(err)
			}
			req := exchangeRequest(tok, initializeSession(b, s, tok))
			o := s.Filter.ProcessRequest(context.Background(), req)
			if o.Immediate != nil {
				b.Fatalf("first request refused: %d %s", o.Immediate.Status, o.Immediate.Body)
			}
			o.Close()
			runExchanges(b, s.Filter, req)
		})
	}
}
