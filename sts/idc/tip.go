package idc

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/sts"
)

// SourceTIP is sts.Grant.Source for Pattern 2 (trusted identity
// propagation) grants.
const SourceTIP = "identity_center_tip"

// IdentityCenterContextProvider is the ProviderArn of an Identity Center
// identity context.
const IdentityCenterContextProvider = "arn:aws:iam::aws:contextProvider/IdentityCenter"

var roleARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$`)

// checkBearerRoles requires an identity-bearer role in every mapped
// account, in that account.
func checkBearerRoles(roles map[string]string, c *compiled) []error {
	var errs []error
	for acct, r := range roles {
		a, err := arn.Parse(r)
		if !roleARNRE.MatchString(r) || err != nil || a.AccountID != acct {
			errs = append(errs, fmt.Errorf("identity_bearer_roles: %q is not an IAM role ARN in account %s", r, acct))
		}
	}
	if c != nil {
		for _, m := range c.ordered {
			if _, ok := roles[m.Account]; !ok {
				errs = append(errs, fmt.Errorf("identity_bearer_roles: no role for account %s of group %s", m.Account, m.Group))
			}
		}
	}
	return errs
}

// sessionNameOf is the RoleSessionName of a Pattern 2 session: derived
// from the user key, so it carries no personal data (CloudTrail names the
// user in onBehalfOf instead).
func sessionNameOf(k userKey) string { return "mcpguard-" + hex.EncodeToString(k[:8]) }

// assumeWithContext calls AssumeRole of the account's identity-bearer role
// with the token's identity context.
func (b *Broker) assumeWithContext(ctx context.Context, k credKey, tok *token) (*sts.Grant, error) {
	if tok.identityContext == "" {
		return nil, kindErr(mcpguard.KindInternal, "idc_no_identity_context",
			"IAM Identity Center returned no identity context: the application must grant the sts:identity_context scope", nil)
	}
	role := b.o.IdentityBearerRoles[k.pair.Account]
	name := sessionNameOf(k.user)
	out, err := b.tip.AssumeRole(ctx, &awssts.AssumeRoleInput{
		RoleArn: aws.String(role), RoleSessionName: aws.String(name),
		ProvidedContexts: []ststypes.ProvidedContext{{
			ProviderArn: aws.String(IdentityCenterContextProvider), ContextAssertion: aws.String(string(tok.identityContext)),
		}},
	})
	if err != nil {
		return nil, classifyAssume(err)
	}
	c := out.Credentials
	if c == nil || c.AccessKeyId == nil || c.SecretAccessKey == nil || c.SessionToken == nil || c.Expiration == nil {
		return nil, mcpguard.E(mcpguard.KindInternal, "internal error while obtaining AWS credentials", errors.New("assume role: response has no credentials"))
	}
	reqID, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
	g := &sts.Grant{
		RoleARN: role, SessionName: name,
		Credentials: sts.Credentials{
			AccessKeyID: *c.AccessKeyId, SecretAccessKey: sts.Secret(*c.SecretAccessKey),
			SessionToken: sts.Secret(*c.SessionToken), Expires: *c.Expiration,
		},
		STSRequestID: reqID,
		NotAfter:     minTime(*c.Expiration, tok.expires),
		Source:       SourceTIP,
		AWSAccount:   k.pair.Account,
	}
	if out.AssumedRoleUser != nil {
		g.AssumedRoleARN = aws.ToString(out.AssumedRoleUser.Arn)
	}
	return g, nil
}

// classifyAssume maps a failed AssumeRole with ProvidedContexts.
func classifyAssume(err error) *mcpguard.Error {
	var gce *gatewayCredentialsError
	if errors.As(err, &gce) {
		return sts.Unavailable("idc_gateway_credentials_unavailable",
			"the gateway could not obtain its own AWS credentials; try again later", retryAfterUnavailable, err)
	}
	code, status := errorInfo(err)
	switch code {
	case "AccessDenied":
		return kindErr(mcpguard.KindForbidden, "idc_tip_access_denied",
			"AWS STS denied AssumeRole of the identity-bearer role: its trust policy must allow the gateway sts:AssumeRole and sts:SetContext", err)
	case "InvalidParameterValue":
		return kindErr(mcpguard.KindUnauthenticated, "idc_tip_context_refused",
			"AWS STS refused the Identity Center identity context; sign in again", err)
	case "ExpiredTokenException":
		return sts.Unavailable("idc_gateway_credentials_expired",
			"the gateway's AWS credentials have expired; try again later", retryAfterUnavailable, err)
	case "RegionDisabledException", "ValidationError", "MalformedPolicyDocument", "PackedPolicyTooLarge":
		return kindErr(mcpguard.KindInternal, "idc_tip_invalid_request", "AWS STS rejected AssumeRole of the identity-bearer role", err)
	case "Throttling", "ThrottlingException", "RequestLimitExceeded":
		return sts.Unavailable("idc_throttled", "AWS STS is throttling requests; try again later", retryAfterThrottled, err)
	}
	if status == 403 {
		return kindErr(mcpguard.KindInternal, "idc_gateway_credentials", "AWS STS refused the gateway's AWS credentials", err)
	}
	return transient(err, code, status, "AWS STS")
}
