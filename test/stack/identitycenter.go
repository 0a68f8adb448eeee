package stack

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/test/fakesso"
	"github.com/mcpguard/mcpguard/test/sigv4check"
)

// The Identity Center deployment of the example company: two accounts,
// an application that trusts the IdP, and the gateway's own role.
const (
	DevAccount     = "111111111111"
	ProdAccount    = "222222222222"
	ApplicationARN = "arn:aws:sso::123456789012:application/ssoins-7223f4a1b2c3d4e5/apl-1a2b3c4d5e6f7a8b"
	InstanceARN    = "arn:aws:sso:::instance/ssoins-7223f4a1b2c3d4e5"
	GatewayRoleARN = "arn:aws:iam::123456789012:role/mcpguard-gateway"
	// DevBearerRole trusts the gateway with sts:AssumeRole and
	// sts:SetContext; ProdBearerRole lacks sts:SetContext.
	DevBearerRole  = "arn:aws:iam::111111111111:role/McpIdentityBearer"
	ProdBearerRole = "arn:aws:iam::222222222222:role/McpIdentityBearer"
	gatewayKeyID   = "ASIAMCPGUARDGATEWAY1"
	gatewaySecret  = "gateway-secret-access-key-for-tests-only"
)

// IdentityCenterAssignments are what the fake portal lists: Alice's group
// has S3ReadOnly in dev only; Bob's has EC2ReadOnly and ViewOnly in dev
// and AdministratorAccess in prod.
var IdentityCenterAssignments = []fakesso.Assignment{
	{Group: "s3-readers", AccountID: DevAccount, PermissionSet: "S3ReadOnly"},
	{Group: "ec2-viewers", AccountID: DevAccount, PermissionSet: "EC2ReadOnly"},
	{Group: "ec2-viewers", AccountID: DevAccount, PermissionSet: "ViewOnly"},
	{Group: "ec2-viewers", AccountID: ProdAccount, PermissionSet: "AdministratorAccess"},
}

// IdentityCenterConfig is the gateway's allow list: S3ReadOnly in dev and
// prod for s3-readers (prod is not assigned to them in Identity Center),
// EC2ReadOnly and ViewOnly in dev for ec2-viewers (never
// AdministratorAccess, although the portal lists it for them).
func IdentityCenterConfig() *config.IdentityCenter {
	one, two := 1, 2
	return &config.IdentityCenter{
		Region: "us-east-1", InstanceARN: InstanceARN, ApplicationARN: ApplicationARN,
		Scopes:             []string{"sso:account:access"},
		TokenRefreshMargin: config.DefaultIdentityCenterMargin, CredentialRefreshMargin: config.DefaultIdentityCenterMargin,
		AssignmentsTTL: config.DefaultAssignmentsTTL, MaxEntries: config.DefaultIdentityCenterCache, Fallback: "sts",
		Mappings: []config.IdentityCenterMapping{
			{Group: "s3-readers", Account: DevAccount, PermissionSet: "S3ReadOnly", Priority: &one},
			{Group: "s3-readers", Account: ProdAccount, PermissionSet: "S3ReadOnly"},
			{Group: "ec2-viewers", Account: DevAccount, PermissionSet: "EC2ReadOnly", Priority: &two},
			{Group: "ec2-viewers", Account: DevAccount, PermissionSet: "ViewOnly"},
		},
	}
}

// startIdentityCenter runs the fake Identity Center and points the
// configuration's identity_center section at it.
func (s *Stack) startIdentityCenter(cfg *config.Config) (aws.CredentialsProvider, error) {
	var users []fakesso.User
	for _, u := range []User{Alice, Bob, Dana, Eve} {
		users = append(users, fakesso.User{UserName: u.Name, Emails: []string{u.Name + "@example.com"}, Groups: u.Groups})
	}
	sso, err := fakesso.New(fakesso.Options{
		InstanceARN: InstanceARN,
		Applications: map[string]fakesso.Application{ApplicationARN: {
			Issuer: fakesso.TrustedTokenIssuer{IssuerURL: s.IdP.URL(), JWKSURL: s.IdP.JWKSURL(),
				ClaimAttributePath: "email", IdentityStoreAttributePath: "emails.value"},
			Audiences: cfg.OIDC.Audiences, Scopes: []string{fakesso.ScopeAccountAccess},
			AssignedGroups: []string{"Everyone"}, AuthorizedCallers: []string{GatewayRoleARN},
		}},
		Users:       users,
		Accounts:    []fakesso.Account{{ID: DevAccount, Name: "dev", Email: "aws-dev@example.com"}, {ID: ProdAccount, Name: "prod", Email: "aws-prod@example.com"}},
		Assignments: IdentityCenterAssignments,
		Callers:     gatewayCaller,
	})
	if err != nil {
		return nil, fmt.Errorf("start identity center: %w", err)
	}
	s.SSO = sso
	if cfg.IdentityCenter == nil {
		cfg.IdentityCenter = IdentityCenterConfig()
	}
	cfg.IdentityCenter.OIDCEndpoint, cfg.IdentityCenter.PortalEndpoint = sso.OIDCURL(), sso.PortalURL()
	cfg.IdentityCenter.STSEndpoint = s.STS.URL()
	return credentials.NewStaticCredentialsProvider(gatewayKeyID, gatewaySecret, ""), nil
}

// gatewayCaller is the gateway's own IAM identity, as the fakes see it.
func gatewayCaller(id string) (sigv4check.Caller, bool) {
	return sigv4check.Caller{AccessKeyID: gatewayKeyID, SecretAccessKey: gatewaySecret, PrincipalARN: GatewayRoleARN}, id == gatewayKeyID
}

// IdentityCenterTIP turns cfg's identity_center into Pattern 2: dev and
// prod through their identity-bearer roles, for s3-readers.
func IdentityCenterTIP(cfg *config.Config) {
	ic := cfg.IdentityCenter
	ic.Scopes = nil
	ic.IdentityBearerRoles = []config.IdentityBearerRole{{Account: DevAccount, RoleARN: DevBearerRole}, {Account: ProdAccount, RoleARN: ProdBearerRole}}
	one := 1
	ic.Mappings = []config.IdentityCenterMapping{
		{Group: "s3-readers", Account: DevAccount, Priority: &one},
		{Group: "s3-readers", Account: ProdAccount},
	}
}

// ssoPermissions are the AWS services each permission set's role may use.
func (s *Stack) ssoPermissions(into map[string][]string) {
	into[DevBearerRole], into[ProdBearerRole] = []string{"s3"}, []string{"s3"}
	for set, services := range map[string][]string{"S3ReadOnly": {"s3"}, "EC2ReadOnly": {"ec2"}, "ViewOnly": {"ec2", "s3"}, "AdministratorAccess": {"s3", "ec2", "iam"}} {
		for _, acct := range []string{DevAccount, ProdAccount} {
			into[s.SSO.RoleARN(acct, set)] = services
		}
	}
}
