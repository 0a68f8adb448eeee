package gateway_test

import (
	"context"
	"io"
	"testing"

	"github.com/mcpguard/mcpguard/test/stack"
)

// BenchmarkExchangeCredentialSource compares the warm path of one allowed
// tools/call signed with STS-direct credentials and with an IAM Identity
// Center permission set (Pattern 1: target selection, allow list, cached
// assignments and credentials). Both run the same stack, policies and
// request; only the credential source differs.
func BenchmarkExchangeCredentialSource(b *testing.B) {
	for _, src := range []struct {
		name string
		idc  bool
	}{{"sts", false}, {"identity_center", true}} {
		b.Run(src.name, func(b *testing.B) {
			s, err := stack.Start(context.Background(), stack.Options{
				ConfigPath:     "../examples/quickstart/config.yaml",
				Ephemeral:      true,
				AuditWriter:    io.Discard,
				IdentityCenter: src.idc,
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
			if src.idc && s.SSO.CountCalls("GetRoleCredentials") != 1 {
				b.Fatal("the request was not signed through Identity Center")
			}
			runExchanges(b, s.Filter, req)
		})
	}
}
