package authn

import (
	"encoding/json"
	"fmt"
	"strings"
)

// MaxGroups bounds the group names one claim may carry, so a hostile or
// misconfigured token cannot make authorization work grow without limit. A
// token with more is refused, never truncated.
const MaxGroups = 1000

// awsTagPrefix is the flat claim name form of an AWS session tag; the token
// may instead carry the nested "https://aws.amazon.com/tags" object that STS
// reads (see GroupsFromClaims).
const (
	awsTagsClaim  = "https://aws.amazon.com/tags"
	awsTagPrefix  = awsTagsClaim + "/principal_tags/"
	awsTagsMember = "principal_tags"
)

// GroupsFromClaims extracts group names from claims[claim] exactly as the
// identity provider sent them, or fails: a group list mcpguard cannot read
// whole is never cut, trimmed or guessed at, because a missing group can
// be the one a forbid names or the one that selects the highest-priority
// role. The accepted shapes:
//
//   - a JSON list of strings, one group per element;
//   - a single string, one group;
//   - the AWS principal-tag convention, and only there, splits a string on
//     ':' (an AWS session tag holds one string, and multi-valued tags join
//     their values with ':'): when claim is the flat
//     "https://aws.amazon.com/tags/principal_tags/<Tag>" key, or that key
//     is absent and the nested form STS reads carries the tag,
//     {"https://aws.amazon.com/tags": {"principal_tags": {"<Tag>": [...]}}}.
//     Everywhere else "team:s3-readers" is one group of that name, never
//     s3-readers.
//
// Names are compared exactly: no trimming, no case folding ("s3-readers "
// is not s3-readers). Empty names name no group and are skipped, and a
// repeated name counts once (first occurrence wins, order kept).
//
// It fails (and authentication with it) when the claim has another type
// (number, object, bool), a list holds a non-string, more than MaxGroups
// names arrive (duplicates counted), or the token announces the groups as
// a distributed claim (_claim_names, the "overage" of providers that drop
// the list from tokens of users in many groups). An absent or null claim
// means no groups. The result is nil when there are none.
func GroupsFromClaims(claims map[string]any, claim string) ([]string, error) {
	if claims == nil || claim == "" {
		return nil, nil
	}
	v, ok := claims[claim]
	split := strings.HasPrefix(claim, awsTagPrefix)
	if !ok {
		if names, _ := claims["_claim_names"].(map[string]any); names != nil {
			if _, over := names[claim]; over {
				return nil, fmt.Errorf("group claim %q is not in the token (distributed claim)", truncate(claim))
			}
		}
		tag, isTag := strings.CutPrefix(claim, awsTagPrefix)
		if !isTag || tag == "" {
			return nil, nil
		}
		tags, _ := claims[awsTagsClaim].(map[string]any)
		principal, _ := tags[awsTagsMember].(map[string]any)
		if v, ok = principal[tag]; !ok {
			return nil, nil
		}
	}
	g := groupSet{split: split}
	switch x := v.(type) {
	case nil:
	case string:
		if err := g.add(x); err != nil {
			return nil, err
		}
	case []string:
		for _, s := range x {
			if err := g.add(s); err != nil {
				return nil, err
			}
		}
	case []any:
		for i, e := range x {
			s, isString := e.(string)
			if !isString {
				return nil, fmt.Errorf("group claim element %d is a %s, not a string", i, jsonType(e))
			}
			if err := g.add(s); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("group claim is a %s, not a string or a list of strings", jsonType(v))
	}
	return g.out, nil
}

// jsonType names the JSON type of a decoded value for error messages.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64, json.Number, int, int64:
		return "number"
	case string:
		return "string"
	case []any:
		return "list"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

type groupSet struct {
	split bool
	n     int // names seen, duplicates included
	out   []string
	seen  map[string]struct{}
}

func (g *groupSet) add(s string) error {
	if !g.split {
		return g.one(s)
	}
	for part := range strings.SplitSeq(s, ":") {
		if err := g.one(part); err != nil {
			return err
		}
	}
	return nil
}

func (g *groupSet) one(s string) error {
	g.n++
	if g.n > MaxGroups {
		return fmt.Errorf("more than %d groups", MaxGroups)
	}
	if s == "" {
		return nil
	}
	if g.seen == nil {
		g.seen = map[string]struct{}{}
	}
	if _, dup := g.seen[s]; dup {
		return nil
	}
	g.seen[s] = struct{}{}
	g.out = append(g.out, s)
	return nil
}
