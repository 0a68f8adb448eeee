package sts

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/authn"
)

// Mapping maps one IdP group to one IAM role. It mirrors an entry of
// aws_sts_config.role_mappings; the configuration loader reads session
// policy files, so SessionPolicy is always JSON text here.
type Mapping struct {
	// Claim is the group that must appear in the identity's role claim.
	// Empty only for the default role returned by SelectRole.
	Claim string
	// RoleARN is the role assumed when this mapping wins.
	RoleARN string
	// Priority orders matching mappings: the lowest number wins; mappings
	// without a priority come after every numbered one, in file order.
	Priority *int
	// SessionPolicy is an optional inline session policy (JSON) passed as
	// Policy, so that AWS itself narrows what the role may do.
	SessionPolicy string
	// SessionPolicyARNs are optional managed policies passed as PolicyArns,
	// with the same effect.
	SessionPolicyARNs []string
	// ScopeDown is the mapping's scope-down mode; "" takes
	// Options.ScopeDown.
	ScopeDown ScopeMode
}

// role is a compiled mapping: its rank in precedence order, the compacted
// policy and the digest of everything that shapes the STS session besides
// the token.
type role struct {
	Mapping
	rank         int
	policyDigest [sha256.Size]byte
	mode         ScopeMode // resolved scope-down mode
	scope        *scoper   // set when mode is ScopeRequest
}

// roleTable is the immutable result of compiling the configuration.
type roleTable struct {
	claim   string           // "" → Identity.Groups; else read by authn.GroupsFromClaims
	byGroup map[string]*role // group → best-ranked mapping for it
	def     *role            // nil → 403 when nothing matches
}

// Limits of AssumeRoleWithWebIdentity (STS API reference).
const (
	maxPolicyLen     = 2048
	maxPolicyARNs    = 10
	minDuration      = 900
	maxDuration      = 43200
	tagsNamespace    = "https://aws.amazon.com/tags"
	awsClaimsPrefix  = "https://aws.amazon.com/"
	principalTagsKey = "principal_tags"
)

var (
	// IAM names: role names and the last path element.
	iamNameRE = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	accountRE = regexp.MustCompile(`^[0-9]{12}$`)
)

// partitions are the AWS partitions whose IAM ARNs mcpguard accepts.
var partitions = []string{"aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc"}

// ValidateRoleARN reports whether s is an IAM role ARN that STS can assume:
// a known partition, service iam, no region, a 12-digit account and a
// role/[path/]name resource. Configuration loading calls it so that a typo
// fails at startup instead of as an AccessDenied at the first request.
func ValidateRoleARN(s string) error {
	a, err := arn.Parse(s)
	if err != nil {
		return fmt.Errorf("role ARN %q: %w", s, err)
	}
	if !slices.Contains(partitions, a.Partition) {
		return fmt.Errorf("role ARN %q: unknown partition %q", s, a.Partition)
	}
	if a.Service != "iam" {
		return fmt.Errorf("role ARN %q: service must be iam, not %q", s, a.Service)
	}
	if a.Region != "" {
		return fmt.Errorf("role ARN %q: IAM ARNs have no region", s)
	}
	if !accountRE.MatchString(a.AccountID) {
		return fmt.Errorf("role ARN %q: account must be 12 digits", s)
	}
	return validateIAMResource(s, a.Resource, "role")
}

// validatePolicyARN accepts customer managed policies (12-digit account) and
// AWS managed policies (account "aws").
func validatePolicyARN(s string) error {
	a, err := arn.Parse(s)
	if err != nil {
		return fmt.Errorf("policy ARN %q: %w", s, err)
	}
	if !slices.Contains(partitions, a.Partition) || a.Service != "iam" || a.Region != "" {
		return fmt.Errorf("policy ARN %q: not an IAM policy ARN", s)
	}
	if a.AccountID != "aws" && !accountRE.MatchString(a.AccountID) {
		return fmt.Errorf("policy ARN %q: account must be 12 digits or aws", s)
	}
	return validateIAMResource(s, a.Resource, "policy")
}

// validateIAMResource checks "<kind>/[path/]name": the path is any run of
// printable ASCII delimited by slashes, the name is an IAM name.
func validateIAMResource(s, resource, kind string) error {
	rest, ok := strings.CutPrefix(resource, kind+"/")
	if !ok {
		return fmt.Errorf("%s ARN %q: resource must start with %s/", kind, s, kind)
	}
	i := strings.LastIndexByte(rest, '/')
	path, name := rest[:i+1], rest[i+1:]
	for _, c := range []byte(path) {
		if c < 0x21 || c > 0x7e {
			return fmt.Errorf("%s ARN %q: invalid character in path", kind, s)
		}
	}
	if !iamNameRE.MatchString(name) {
		return fmt.Errorf("%s ARN %q: invalid %s name %q", kind, s, kind, name)
	}
	return nil
}

// compileRoles validates every mapping and orders them by precedence.
func compileRoles(claim string, mappings []Mapping, defaultARN string) (*roleTable, error) {
	var errs []error
	roles := make([]*role, 0, len(mappings))
	for i, m := range mappings {
		r, err := compileRole(m)
		if err != nil {
			errs = append(errs, fmt.Errorf("role_mappings[%d]: %w", i, err))
			continue
		}
		if m.Claim == "" {
			errs = append(errs, fmt.Errorf("role_mappings[%d]: claim is empty", i))
			continue
		}
		roles = append(roles, r)
	}
	t := &roleTable{claim: claim, byGroup: make(map[string]*role, len(roles))}
	if defaultARN != "" {
		if err := ValidateRoleARN(defaultARN); err != nil {
			errs = append(errs, fmt.Errorf("role_arn: %w", err))
		} else {
			t.def = &role{Mapping: Mapping{RoleARN: defaultARN}, rank: len(roles)}
			t.def.policyDigest = sha256.Sum256(nil)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	// Numbered mappings first, lowest number first; the stable sort keeps
	// file order among equals and among the unnumbered ones.
	slices.SortStableFunc(roles, func(a, b *role) int {
		switch {
		case a.Priority == nil && b.Priority == nil:
			return 0
		case a.Priority == nil:
			return 1
		case b.Priority == nil:
			return -1
		default:
			return *a.Priority - *b.Priority
		}
	})
	for rank, r := range roles {
		r.rank = rank
		if _, taken := t.byGroup[r.Claim]; !taken {
			t.byGroup[r.Claim] = r
		}
	}
	return t, nil
}

func compileRole(m Mapping) (*role, error) {
	if err := ValidateRoleARN(m.RoleARN); err != nil {
		return nil, err
	}
	if m.Priority != nil && *m.Priority < 0 {
		return nil, fmt.Errorf("priority %d is negative", *m.Priority)
	}
	r := &role{Mapping: m}
	r.SessionPolicyARNs = slices.Clone(m.SessionPolicyARNs)
	if len(m.SessionPolicyARNs) > maxPolicyARNs {
		return nil, fmt.Errorf("session_policy_arns: %d policies, STS accepts at most %d", len(m.SessionPolicyARNs), maxPolicyARNs)
	}
	for _, p := range m.SessionPolicyARNs {
		if err := validatePolicyARN(p); err != nil {
			return nil, fmt.Errorf("session_policy_arns: %w", err)
		}
	}
	if m.SessionPolicy != "" {
		var buf bytes.Buffer
		if err := json.Compact(&buf, []byte(m.SessionPolicy)); err != nil {
			return nil, fmt.Errorf("session_policy: not valid JSON: %w", err)
		}
		var obj map[string]any
		if err := json.Unmarshal(buf.Bytes(), &obj); err != nil {
			return nil, fmt.Errorf("session_policy: must be a JSON object: %w", err)
		}
		if buf.Len() > maxPolicyLen {
			return nil, fmt.Errorf("session_policy: %d characters after compaction, STS accepts at most %d", buf.Len(), maxPolicyLen)
		}
		for _, c := range buf.String() {
			if !(c == '\t' || c == '\n' || c == '\r' || (c >= 0x20 && c <= 0xff)) {
				return nil, fmt.Errorf("session_policy: character %U is not accepted by STS", c)
			}
		}
		r.SessionPolicy = buf.String()
	}
	h := sha256.New()
	fmt.Fprintf(h, "%d:%s", len(r.SessionPolicy), r.SessionPolicy)
	for _, p := range r.SessionPolicyARNs {
		fmt.Fprintf(h, "%d:%s", len(p), p)
	}
	copy(r.policyDigest[:], h.Sum(nil))
	return r, nil
}

// selectRole returns the winning mapping for id.
func (t *roleTable) selectRole(id *authn.Identity) (*role, error) {
	groups := id.Groups
	if t.claim == "" && len(id.Roles) > 0 {
		groups = append(slices.Clip(groups), id.Roles...)
	}
	if t.claim != "" {
		var err error
		if groups, err = authn.GroupsFromClaims(id.Claims, t.claim); err != nil {
			// A cut list could miss the group of the highest-priority
			// mapping and fall through to a broader role.
			e := mcpguard.E(mcpguard.KindForbidden, "token groups cannot be read whole", err)
			e.Reason = authn.ReasonBadGroups
			return nil, e
		}
	}
	var best *role
	for _, g := range groups {
		if r, ok := t.byGroup[g]; ok && (best == nil || r.rank < best.rank) {
			best = r
		}
	}
	if best != nil {
		return best, nil
	}
	if t.def != nil {
		return t.def, nil
	}
	e := mcpguard.E(mcpguard.KindForbidden, "no IAM role mapped for this identity", nil)
	e.Reason = "no_role"
	return nil, e
}
