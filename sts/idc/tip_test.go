package idc_test

import (
	"strings"
	"testing"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/sts/idc"
	"github.com/mcpguard/mcpguard/test/fakests"
	"github.com/mcpguard/mcpguard/test/sigv4check"
)

const bearerRole = "arn:aws:iam::111111111111:role/McpIdentityBearer"

func tipBroker(t *testing.T, e *env, setContext bool) (*idc.Broker, *fakests.Server) {
	t.Helper()
	st, err := fakests.New(fakests.Options{
		JWKSURL: e.idp.JWKSURL(),
		Callers: func(id string) (sigv4check.Caller, bool) {
			return sigv4check.Caller{AccessKeyID: keyID, SecretAccessKey: "gateway-secret", PrincipalARN: gatewayARN}, id == keyID
		},
		AssumeRoleTrust:  map[string]fakests.AssumeRoleTrust{bearerRole: {Principals: []string{gatewayARN}, AllowSetContext: setContext}},
		IdentityContexts: e.sso.IdentityContext,
		Now:              e.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	b := e.broker(t, func(o *idc.Options) {
		o.Mappings = []idc.Mapping{{Group: "dev-readers", Account: dev}}
		o.IdentityBearerRoles = map[string]string{dev: bearerRole}
		o.STSEndpoint = st.URL()
		o.Scopes = nil
	})
	return b, st
}

// TestTrustedIdentityPropagation: Pattern 2 assumes the identity-bearer
// role with the token's identity context, which the fake STS checked
// against the fake Identity Center.
func TestTrustedIdentityPropagation(t *testing.T) {
	e := newEnv(t, envOpts{})
	b, st := tipBroker(t, e, true)
	alice := e.identity(t, "alice", "dev-readers")
	g, err := b.Credentials(t.Context(), alice)
	if err != nil {
		t.Fatal(err)
	}
	if g.Source != idc.SourceTIP || g.RoleARN != bearerRole || g.AWSAccount != dev || g.PermissionSet != "" {
		t.Fatalf("grant = %+v", g)
	}
	if strings.Contains(g.SessionName, "alice") || !strings.HasPrefix(g.SessionName, "mcpguard-") {
		t.Fatalf("session name %q carries personal data", g.SessionName)
	}
	calls := st.Calls()
	if len(calls) != 1 || calls[0].Action != "AssumeRole" || calls[0].Caller != gatewayARN || calls[0].ContextUser != "alice" ||
		len(calls[0].ProvidedContexts) != 1 || calls[0].ProvidedContexts[0].ProviderARN != idc.IdentityCenterContextProvider {
		t.Fatalf("STS calls = %+v", calls)
	}
	if cred, ok := st.Issued(g.Credentials.AccessKeyID); !ok || cred.ContextUser != "alice" {
		t.Fatalf("issued = %+v", cred)
	}
	if n := e.sso.CountCalls("GetRoleCredentials"); n != 0 {
		t.Fatalf("Pattern 2 called the portal %d times", n)
	}
	if _, err := b.Credentials(t.Context(), alice); err != nil || len(st.Calls()) != 1 {
		t.Fatalf("second call: %v, STS calls %d", err, len(st.Calls()))
	}
}

func TestTrustedIdentityPropagationWithoutSetContext(t *testing.T) {
	e := newEnv(t, envOpts{})
	b, _ := tipBroker(t, e, false)
	_, err := b.Credentials(t.Context(), e.identity(t, "alice", "dev-readers"))
	if mcpguard.KindOf(err) != mcpguard.KindForbidden || mcpguard.ReasonOf(err) != "idc_tip_access_denied" {
		t.Fatalf("err = %v", err)
	}
}
