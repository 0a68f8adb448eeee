package idc

import (
	"context"

	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/sts"
)

// Direct is the STS-direct credential source (*sts.Broker).
type Direct interface {
	Credentials(ctx context.Context, id *authn.Identity) (*sts.Grant, error)
}

// Router chooses the credential source per user: Identity Center for the
// users an identity_center mapping admits, STS direct (when configured)
// for everyone else.
type Router struct {
	IDC *Broker
	// STS is nil when every user must go through Identity Center.
	STS Direct
}

// The Cedar context attributes of an Identity Center request.
const (
	AttrAccount       = "aws_account"
	AttrPermissionSet = "permission_set"
)

// SelectTarget decides the request's account and permission set from the
// route's metadata and the client's headers (both keyed by AccountKey and
// PermissionSetKey) and returns the context Credentials needs and the
// attributes policies see. Users left to STS direct get no attributes; a
// request of theirs that names a pair is refused, since STS direct cannot
// honour it.
func (r *Router) SelectTarget(ctx context.Context, id *authn.Identity, route, header map[string][]string) (context.Context, map[string]string, error) {
	req := Requested{
		RouteAccount: route[AccountKey], RoutePermissionSet: route[PermissionSetKey],
		HeaderAccount: header[AccountKey], HeaderPermissionSet: header[PermissionSetKey],
	}
	if r.STS != nil && !r.IDC.Handles(id) {
		for _, v := range [][]string{req.RouteAccount, req.RoutePermissionSet, req.HeaderAccount, req.HeaderPermissionSet} {
			if len(v) > 0 {
				return ctx, nil, errNoMapping
			}
		}
		return ctx, nil, nil
	}
	ctx, p, err := r.IDC.Select(ctx, id, req)
	if err != nil {
		return ctx, nil, err
	}
	// Attributes are shared between requests; readers must not modify them.
	return ctx, r.IDC.maps.attrs[p], nil
}

// Credentials signs Identity Center users with their permission set's
// credentials and everyone else through STS direct.
func (r *Router) Credentials(ctx context.Context, id *authn.Identity) (*sts.Grant, error) {
	if r.STS != nil && !r.IDC.Handles(id) {
		return r.STS.Credentials(ctx, id)
	}
	return r.IDC.Credentials(ctx, id)
}
