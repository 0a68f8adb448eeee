package idc_test

import (
	"context"
	"testing"
	"time"

	"github.com/mcpguard/mcpguard/sts"
	"github.com/mcpguard/mcpguard/sts/idc"
	"github.com/mcpguard/mcpguard/test/fakests"
)

// BenchmarkWarmCredentials compares the credential stage of a warm
// request: Pattern 1 (target selection against the allow list, then a
// cached permission-set grant) and STS direct (role selection, cache key
// over the token's AWS claims, cached grant), each against its fake.
func BenchmarkWarmCredentials(b *testing.B) {
	b.Run("identity_center", func(b *testing.B) {
		e := newEnv(b, envOpts{})
		r := &idc.Router{IDC: e.broker(b, nil)}
		id := e.identity(b, "alice", "dev-readers")
		header := map[string][]string{idc.AccountKey: {dev}, idc.PermissionSetKey: {"S3ReadOnly"}}
		ctx := context.Background()
		run := func() {
			c, _, err := r.SelectTarget(ctx, id, nil, header)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := r.Credentials(c, id); err != nil {
				b.Fatal(err)
			}
		}
		run()
		b.ReportAllocs()
		for b.Loop() {
			run()
		}
	})
	b.Run("sts", func(b *testing.B) {
		e := newEnv(b, envOpts{})
		st, err := fakests.New(fakests.Options{JWKSURL: e.idp.JWKSURL(), Now: e.clock.Now, Roles: map[string]fakests.Role{
			"arn:aws:iam::111111111111:role/S3ReadOnlyMCPRole": {TrustedIssuer: e.idp.URL(), Audiences: []string{"mcpguard"}, MaxSessionDuration: time.Hour},
		}})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = st.Close() })
		br, err := sts.New(sts.Options{Region: "us-east-1", Endpoint: st.URL(), Now: e.clock.Now,
			Mappings: []sts.Mapping{{Claim: "dev-readers", RoleARN: "arn:aws:iam::111111111111:role/S3ReadOnlyMCPRole"}}})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(br.Close)
		id := e.identity(b, "alice", "dev-readers")
		ctx := context.Background()
		if _, err := br.Credentials(ctx, id); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := br.Credentials(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
	})
}
