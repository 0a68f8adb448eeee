package idc

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"

	"github.com/mcpguard/mcpguard/authn"
)

// Names under which a route (gRPC initial metadata that Envoy sets per
// route) or a client (request headers, removed before the request leaves
// Envoy) names the account and permission set of a request.
const (
	AccountKey       = "x-mcpguard-aws-account"
	PermissionSetKey = "x-mcpguard-permission-set"
)

var (
	accountRE       = regexp.MustCompile(`^[0-9]{12}$`)
	permissionSetRE = regexp.MustCompile(`^[\w+=,.@-]{1,32}$`)
)

// Pair is an AWS account and a permission set in it.
type Pair struct {
	Account, PermissionSet string
}

// Mapping admits the members of Group to the pair. Mappings are
// identity_center.mappings in file order.
type Mapping struct {
	Group         string
	Account       string
	PermissionSet string
	// Priority orders the mappings a user matches when the request names
	// no pair: the lowest number gives the default pair; nil sorts after
	// every numbered mapping, in file order.
	Priority *int
}

// Requested is what a request says about its pair: from the route and from
// the client's headers. Counts above one are refused.
type Requested struct {
	RouteAccount, RoutePermissionSet   []string
	HeaderAccount, HeaderPermissionSet []string
}

type compiled struct {
	byGroup map[string][]Pair
	// ordered is every mapping by priority, for the default pair.
	ordered []Mapping
	// attrs are the Cedar context attributes of each pair, built once
	// and shared read-only by every request.
	attrs map[Pair]map[string]string
	// interned holds one pointer per allowed pair, so carrying the chosen
	// pair in a context allocates nothing but the context.
	interned map[Pair]*Pair
}

// compileMappings checks and indexes the mappings; with accountsOnly
// (Pattern 2) a mapping names an account and no permission set.
func compileMappings(ms []Mapping, accountsOnly bool) (*compiled, error) {
	var errs []error
	c := &compiled{byGroup: map[string][]Pair{}, attrs: map[Pair]map[string]string{}, interned: map[Pair]*Pair{}}
	for i, m := range ms {
		if m.Group == "" {
			errs = append(errs, fmt.Errorf("mappings[%d]: group is required", i))
		}
		if !accountRE.MatchString(m.Account) {
			errs = append(errs, fmt.Errorf("mappings[%d]: account %q is not a 12-digit AWS account ID", i, m.Account))
		}
		switch {
		case accountsOnly && m.PermissionSet != "":
			errs = append(errs, fmt.Errorf("mappings[%d]: permission_set must be empty with identity-bearer roles (trusted identity propagation)", i))
		case !accountsOnly && !permissionSetRE.MatchString(m.PermissionSet):
			errs = append(errs, fmt.Errorf("mappings[%d]: permission_set %q is not a permission set name", i, m.PermissionSet))
		}
		if m.Priority != nil && *m.Priority < 0 {
			errs = append(errs, fmt.Errorf("mappings[%d]: priority must not be negative", i))
		}
		p := Pair{m.Account, m.PermissionSet}
		if !slices.Contains(c.byGroup[m.Group], p) {
			c.byGroup[m.Group] = append(c.byGroup[m.Group], p)
		}
		c.ordered = append(c.ordered, m)
		c.interned[p] = &p
		c.attrs[p] = map[string]string{AttrAccount: p.Account}
		if p.PermissionSet != "" {
			c.attrs[p][AttrPermissionSet] = p.PermissionSet
		}
	}
	if len(ms) == 0 {
		errs = append(errs, errors.New("mappings: at least one mapping is required"))
	}
	slices.SortStableFunc(c.ordered, func(a, b Mapping) int {
		switch {
		case a.Priority == nil && b.Priority == nil:
			return 0
		case a.Priority == nil:
			return 1
		case b.Priority == nil:
			return -1
		}
		return cmp.Compare(*a.Priority, *b.Priority)
	})
	return c, errors.Join(errs...)
}

// handles reports whether any mapping admits the identity.
func (c *compiled) handles(id *authn.Identity) bool {
	for _, g := range id.Groups {
		if len(c.byGroup[g]) > 0 {
			return true
		}
	}
	return false
}

func (c *compiled) allowed(id *authn.Identity, p Pair) bool {
	for _, g := range id.Groups {
		if slices.Contains(c.byGroup[g], p) {
			return true
		}
	}
	return false
}

func (c *compiled) defaultPair(id *authn.Identity) (Pair, bool) {
	for _, m := range c.ordered {
		if slices.Contains(id.Groups, m.Group) {
			return Pair{m.Account, m.PermissionSet}, true
		}
	}
	return Pair{}, false
}

// one returns the single value of a list, refusing repeats.
func one(v []string) (string, error) {
	switch len(v) {
	case 0:
		return "", nil
	case 1:
		return v[0], nil
	}
	return "", errRepeatedHeader
}

// choose decides the pair: the route's, else the client's, else the
// user's default; a client pair that contradicts the route is refused, and
// the result must be in the allow list.
func (c *compiled) choose(id *authn.Identity, r Requested) (Pair, error) {
	var route, header Pair
	var errs [4]error
	route.Account, errs[0] = one(r.RouteAccount)
	route.PermissionSet, errs[1] = one(r.RoutePermissionSet)
	header.Account, errs[2] = one(r.HeaderAccount)
	header.PermissionSet, errs[3] = one(r.HeaderPermissionSet)
	for _, err := range errs {
		if err != nil {
			return Pair{}, err
		}
	}
	if !c.handles(id) {
		return Pair{}, errNoMapping
	}
	// A route may pin only the account (one route per account) and leave
	// the permission set to the client, or pin both.
	p := route
	if header.Account != "" {
		if p.Account != "" && p.Account != header.Account {
			return Pair{}, errConflictingPair
		}
		p.Account = header.Account
	}
	if header.PermissionSet != "" {
		if p.PermissionSet != "" && p.PermissionSet != header.PermissionSet {
			return Pair{}, errConflictingPair
		}
		p.PermissionSet = header.PermissionSet
	}
	switch {
	case p == Pair{}:
		d, _ := c.defaultPair(id)
		return d, nil
	case p.Account == "":
		return Pair{}, errIncompletePair
	case p.PermissionSet == "":
		// The account alone: the user's highest-priority set in it.
		for _, m := range c.ordered {
			if m.Account == p.Account && slices.Contains(id.Groups, m.Group) {
				return Pair{m.Account, m.PermissionSet}, nil
			}
		}
		return Pair{}, errPairNotAllowed
	}
	if !c.allowed(id, p) {
		return Pair{}, errPairNotAllowed
	}
	return p, nil
}

type targetKey struct{}

// withTarget carries the chosen pair from SelectTarget to Credentials.
func (c *compiled) withTarget(ctx context.Context, p Pair) context.Context {
	ip := c.interned[p]
	if ip == nil {
		q := p
		ip = &q
	}
	return context.WithValue(ctx, targetKey{}, ip)
}

func targetFrom(ctx context.Context) (Pair, bool) {
	p, ok := ctx.Value(targetKey{}).(*Pair)
	if !ok || p == nil {
		return Pair{}, false
	}
	return *p, true
}
