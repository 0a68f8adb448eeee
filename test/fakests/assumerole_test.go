package fakests_test

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"

	"github.com/mcpguard/mcpguard/test/fakests"
	"github.com/mcpguard/mcpguard/test/sigv4check"
)

// TestAssumeRoleWithProvidedContexts drives AssumeRole through the SDK's
// own serializer: the trust needs sts:SetContext, the provider ARN must be
// Identity Center's and the assertion one the context resolver knows.
func TestAssumeRoleWithProvidedContexts(t *testing.T) {
	const role, caller = "arn:aws:iam::111111111111:role/Bearer", "arn:aws:iam::111122223333:role/gateway"
	const noCtxRole = "arn:aws:iam::111111111111:role/NoSetContext"
	srv, err := fakests.New(fakests.Options{
		Keys: nil, JWKSURL: "http://127.0.0.1:1/jwks",
		Callers: func(id string) (sigv4check.Caller, bool) {
			return sigv4check.Caller{AccessKeyID: "AKIAGW", SecretAccessKey: "s3cret", PrincipalARN: caller}, id == "AKIAGW"
		},
		AssumeRoleTrust: map[string]fakests.AssumeRoleTrust{
			role:      {Principals: []string{caller}, AllowSetContext: true},
			noCtxRole: {Principals: []string{caller}},
		},
		IdentityContexts: func(a string) (string, bool) { return "alice", a == "good-context" },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	client := func(secret string) *sts.Client {
		return sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL()), RetryMaxAttempts: 1,
			Credentials: credentials.NewStaticCredentialsProvider("AKIAGW", secret, "")})
	}
	in := func(roleARN, provider, assertion string) *sts.AssumeRoleInput {
		return &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("mcpguard-0011"),
			ProvidedContexts: []types.ProvidedContext{{ProviderArn: aws.String(provider), ContextAssertion: aws.String(assertion)}}}
	}
	out, err := client("s3cret").AssumeRole(t.Context(), in(role, fakests.IdentityCenterProvider, "good-context"))
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := srv.Issued(aws.ToString(out.Credentials.AccessKeyId)); !ok || c.ContextUser != "alice" ||
		aws.ToString(out.AssumedRoleUser.Arn) != "arn:aws:sts::111111111111:assumed-role/Bearer/mcpguard-0011" {
		t.Fatalf("issued %+v, assumed %s", c, aws.ToString(out.AssumedRoleUser.Arn))
	}
	for _, tt := range []struct {
		name   string
		c      *sts.Client
		in     *sts.AssumeRoleInput
		code   string
		status int
	}{
		{"no sts:SetContext", client("s3cret"), in(noCtxRole, fakests.IdentityCenterProvider, "good-context"), "AccessDenied", 403},
		{"wrong provider", client("s3cret"), in(role, "arn:aws:iam::aws:contextProvider/Other", "good-context"), "InvalidParameterValue", 400},
		{"forged context", client("s3cret"), in(role, fakests.IdentityCenterProvider, "forged-context"), "InvalidParameterValue", 400},
		{"short assertion", client("s3cret"), in(role, fakests.IdentityCenterProvider, "abc"), "ValidationError", 400},
		{"untrusted role", client("s3cret"), in("arn:aws:iam::111111111111:role/Other", fakests.IdentityCenterProvider, "good-context"), "AccessDenied", 403},
		{"bad signature", client("wrong"), in(role, fakests.IdentityCenterProvider, "good-context"), "InvalidSignatureException", 403},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.c.AssumeRole(t.Context(), tt.in)
			var api smithy.APIError
			var re interface{ HTTPStatusCode() int }
			if !errors.As(err, &api) || api.ErrorCode() != tt.code || !errors.As(err, &re) || re.HTTPStatusCode() != tt.status {
				t.Fatalf("err = %v, want %s %d", err, tt.code, tt.status)
			}
		})
	}
}
