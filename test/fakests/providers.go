package fakests

import (
	"context"
	"fmt"
	"slices"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// trusts reports whether the role's trust policy names the OIDC provider iss.
func (r Role) trusts(iss string) bool {
	return iss != "" && (r.TrustedIssuer == iss || slices.Contains(r.TrustedIssuers, iss))
}

// keysFor returns the key set of the OIDC provider iss: its own JWKS when
// IssuerJWKS names one, else the default.
func (s *Server) keysFor(ctx context.Context, iss string) (jwk.Set, error) {
	u, ok := s.opts.IssuerJWKS[iss]
	if !ok {
		return s.keys(ctx)
	}
	set, err := jwk.Fetch(ctx, u, jwk.WithHTTPClient(s.opts.HTTPClient))
	if err != nil {
		return nil, fmt.Errorf("fetch jwks of %s: %w", iss, err)
	}
	return set, nil
}
