package sts

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/mcpguard/mcpguard/authn"
)

// ProviderRoles are one identity provider's own role mappings
// (oidc_providers[].role_mappings and role_arn).
type ProviderRoles struct {
	Mappings       []Mapping
	DefaultRoleARN string
}

// compileProviderRoles compiles each provider's table; they read the
// identity's mapped groups and roles (claim ""), never a raw claim.
func compileProviderRoles(in map[string]ProviderRoles) (map[string]*roleTable, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[string]*roleTable, len(in))
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(in)) {
		pr := in[name]
		t, err := compileRoles("", pr.Mappings, pr.DefaultRoleARN)
		if err != nil {
			errs = append(errs, fmt.Errorf("oidc_providers %q: %w", name, err))
			continue
		}
		out[name] = t
	}
	return out, errors.Join(errs...)
}

// table is the role table that decides id's role: its provider's own, or
// the global one.
func (b *Broker) table(id *authn.Identity) *roleTable {
	if t, ok := b.providerRoles[id.Provider]; ok && id.Provider != "" {
		return t
	}
	return b.roles
}
