package config

import (
	"strings"
	"testing"
	"time"
)

func TestProvidersParse(t *testing.T) {
	c, err := Parse([]byte(`
oidc_config:
  clock_skew: 10s
oidc_providers:
  - name: okta
    issuer: https://corp.okta.com/oauth2/default
    audience: api://mcpguard
  - name: contractors
    issuer: https://login.microsoftonline.com/{tenantid}/v2.0
    tenants: [72f988bf-86f1-41af-91ab-2d7cd011db47]
    discovery_url: https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration
    audience: [api://mcpguard, `+strings.Repeat("x", 256)+`]
    clock_skew: 1m
    claims: {roles: roles, session_name: preferred_username}
    group_names: [{id: 3c7e2a51-6d0f-4b8e-9a12-5f4e3d2c1b0a, name: s3-readers}]
    group_prefix: "contractors:"
    role_mappings:
      - claim: contractors:s3-readers
        role_arn: arn:aws:iam::123456789012:role/ContractorS3
aws_sts_config:
  region: us-east-1
  role_arn: arn:aws:iam::123456789012:role/DefaultMCPRole
`), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	okta, entra := c.OIDCProviders[0], c.OIDCProviders[1]
	if okta.ClockSkew != 10*time.Second || entra.ClockSkew != time.Minute {
		t.Errorf("clock skews %s %s", okta.ClockSkew, entra.ClockSkew)
	}
	if okta.Claims.Groups != "groups" || okta.Claims.SessionName != "email" || okta.Claims.EmailVerified != "email_verified" || len(okta.AllowedAlgorithms) == 0 {
		t.Errorf("okta defaults %+v", okta)
	}
	if entra.Claims.SessionName != "preferred_username" || entra.GroupNames[0].Name != "s3-readers" {
		t.Errorf("entra %+v", entra)
	}
	w := strings.Join(c.Warnings(), "\n")
	for _, want := range []string{"oidc_providers[1].audience[1] is 256 characters", "oidc_providers[1].issuer is a tenant template"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings lack %q:\n%s", want, w)
		}
	}
	if strings.Contains(w, "oidc_providers[0]") {
		t.Errorf("okta warned about:\n%s", w)
	}
}

// Providers that all bring their own roles need no global role.
func TestProvidersOwnRoles(t *testing.T) {
	_, err := Parse([]byte(`
oidc_providers:
  - name: ci
    issuer: https://token.actions.githubusercontent.com
    audience: sts.amazonaws.com
    role_arn: arn:aws:iam::123456789012:role/CI
aws_sts_config:
  region: us-east-1
`), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
}
