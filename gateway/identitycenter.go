package gateway

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/sts/idc"
)

// identityCenter builds the IAM Identity Center broker and the router that
// sends its users there and everyone else to STS direct (or nowhere, with
// fallback deny).
func (g *Gateway) identityCenter(ctx context.Context, cfg *config.Config, o Options) (*idc.Router, error) {
	ic := cfg.IdentityCenter
	creds := o.AWSCredentials
	if creds == nil {
		// The gateway's own identity (IRSA, ECS task role, instance
		// profile, environment) signs CreateTokenWithIAM.
		ac, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(ic.Region))
		if err != nil {
			return nil, fmt.Errorf("load the gateway's AWS credentials for identity_center: %w", err)
		}
		creds = ac.Credentials
	}
	maps := make([]idc.Mapping, 0, len(ic.Mappings))
	for _, m := range ic.Mappings {
		maps = append(maps, idc.Mapping{Group: m.Group, Account: m.Account, PermissionSet: m.PermissionSet, Priority: m.Priority})
	}
	var bearer map[string]string
	for _, r := range ic.IdentityBearerRoles {
		if bearer == nil {
			bearer = map[string]string{}
		}
		bearer[r.Account] = r.RoleARN
	}
	b, err := idc.New(idc.Options{
		IdentityBearerRoles: bearer, STSEndpoint: ic.STSEndpoint,
		Region: ic.Region, InstanceARN: ic.InstanceARN, ApplicationARN: ic.ApplicationARN, Scopes: ic.Scopes,
		OIDCEndpoint: ic.OIDCEndpoint, PortalEndpoint: ic.PortalEndpoint,
		Credentials:             aws.NewCredentialsCache(creds),
		Mappings:                maps,
		TokenRefreshMargin:      ic.TokenRefreshMargin,
		CredentialRefreshMargin: ic.CredentialRefreshMargin,
		AssignmentsTTL:          ic.AssignmentsTTL,
		MaxEntries:              ic.MaxEntries,
		HTTPClient:              o.HTTPClient,
		Logger:                  g.log.With("stage", "identity_center"),
		Now:                     o.Now,
	})
	if err != nil {
		return nil, err
	}
	g.idc = b
	r := &idc.Router{IDC: b}
	if ic.Fallback == "sts" {
		r.STS = g.creds
	}
	pattern := "permission_sets"
	if bearer != nil {
		pattern = "trusted_identity_propagation"
		g.log.Warn("identity_center uses trusted identity propagation: AWS attaches AWSIAMIdentityCenterAllowListForIdentityContext "+
			"to identity-enhanced sessions, which denies every action outside AWS's allow list (S3 Access Grants, Lake Formation, "+
			"Athena, Glue, EMR, OpenSearch, Amazon Q, sts:SetContext); whether the AWS MCP Server accepts such sessions is not documented",
			"accounts", len(bearer))
	}
	g.log.Info("IAM Identity Center credential source enabled", "pattern", pattern, "region", ic.Region, "instance_arn", ic.InstanceARN,
		"application_arn", ic.ApplicationARN, "mappings", len(maps), "fallback", ic.Fallback)
	return r, nil
}
