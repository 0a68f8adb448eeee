package authn

import (
	"fmt"
	"strings"
)

// maxPathDepth bounds a claim path: IdPs nest custom claims one or two
// levels deep (Keycloak's resource_access.<client>.roles is three).
const maxPathDepth = 8

// ClaimAt reads the claim a path names. A path is a top-level claim name,
// or names separated by '.' that descend into JSON objects
// ("realm_access.roles", "resource_access.mcp.roles"). Claim names may
// themselves contain dots (Auth0's namespaced "https://example.com/roles",
// the AWS session-tag claims), so the path is first tried whole as a
// top-level name. When the whole name and a nested reading both exist the
// token is ambiguous and ClaimAt fails rather than choose: two readers of
// one token must never disagree about what it grants.
//
// found is false when the claim is absent (an absent claim is not an
// error: the caller decides whether it must be there).
func ClaimAt(claims map[string]any, path string) (v any, found bool, err error) {
	if claims == nil || path == "" {
		return nil, false, nil
	}
	whole, wholeOK := claims[path]
	if !strings.Contains(path, ".") {
		return whole, wholeOK, nil
	}
	nested, nestedOK, err := descend(claims, path)
	if err != nil {
		if wholeOK {
			return whole, true, nil
		}
		return nil, false, err
	}
	switch {
	case wholeOK && nestedOK:
		return nil, false, fmt.Errorf("claim path %q names both a top-level claim and a nested one", truncate(path))
	case wholeOK:
		return whole, true, nil
	default:
		return nested, nestedOK, nil
	}
}

// descend follows the dot-separated segments of path through objects. A
// segment that meets a non-object is "absent" only when the path cannot be
// a nested path at all; an intermediate value of the wrong type is an
// error, so a claim whose shape changed is noticed rather than read as no
// groups.
func descend(claims map[string]any, path string) (any, bool, error) {
	segs := strings.Split(path, ".")
	if len(segs) > maxPathDepth {
		return nil, false, fmt.Errorf("claim path %q is deeper than %d", truncate(path), maxPathDepth)
	}
	cur := claims
	for i, s := range segs {
		if s == "" {
			return nil, false, nil // "https://a.b/c" style names: not a nested path
		}
		v, ok := cur[s]
		if !ok {
			return nil, false, nil
		}
		if i == len(segs)-1 {
			return v, true, nil
		}
		switch m := v.(type) {
		case map[string]any:
			cur = m
		case nil:
			return nil, false, nil
		default:
			return nil, false, fmt.Errorf("claim %q is a %s, not an object", truncate(strings.Join(segs[:i+1], ".")), jsonType(v))
		}
	}
	return nil, false, nil
}

// listAt reads the string list at path with the rules of GroupsFromClaims
// (a list of strings or one string, exact names, duplicates once, at most
// MaxGroups). An absent or null claim is an empty list.
func listAt(claims map[string]any, path string) ([]string, error) {
	if !strings.Contains(path, ".") || strings.HasPrefix(path, awsTagPrefix) {
		return GroupsFromClaims(claims, path)
	}
	if _, whole := claims[path]; whole {
		if _, nested, err := descend(claims, path); err == nil && nested {
			return nil, fmt.Errorf("claim path %q names both a top-level claim and a nested one", truncate(path))
		}
		return GroupsFromClaims(claims, path)
	}
	v, ok, err := descend(claims, path)
	if err != nil || !ok {
		return nil, err
	}
	return GroupsFromClaims(map[string]any{"v": v}, "v")
}
