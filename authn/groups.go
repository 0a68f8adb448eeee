package authn

import (
	"strings"
)

// MaxGroups bounds the groups taken from one claim, so a hostile or
// misconfigured token cannot make authorization work grow without limit.
const MaxGroups = 1000

// awsTagPrefix is the flat claim name form of an AWS session tag; the token
// may instead carry the nested "https://aws.amazon.com/tags" object that STS
// reads (see GroupsFromClaims).
const (
	awsTagsClaim  = "https://aws.amazon.com/tags"
	awsTagPrefix  = awsTagsClaim + "/principal_tags/"
	awsTagsMember = "principal_tags"
)

// GroupsFromClaims extracts group names from claims[claim], accepting the
// shapes identity providers actually emit, so one setting works for plain
// group lists and for AWS session-tag style tokens:
//
//   - a JSON list of strings (non-strings are ignored);
//   - a single string, split on ':' — the AWS principal-tag convention for
//     multi-valued tags ("s3-readers:Everyone" → s3-readers, Everyone);
//   - when claim is "https://aws.amazon.com/tags/principal_tags/<Tag>" and
//     that flat key is absent, the nested form STS reads:
//     {"https://aws.amazon.com/tags": {"principal_tags": {"<Tag>": [...]}}}.
//     Each session tag holds one value, so list elements there are split on
//     ':' as well.
//
// Names are trimmed; empty names and duplicates are dropped (first
// occurrence wins, order kept); at most MaxGroups are returned. It never
// panics on numbers, objects or nulls: those yield no groups. The result is
// nil when there are none.
func GroupsFromClaims(claims map[string]any, claim string) []string {
	if claims == nil || claim == "" {
		return nil
	}
	v, ok := claims[claim]
	splitElems := false
	if !ok {
		tag, isTag := strings.CutPrefix(claim, awsTagPrefix)
		if !isTag || tag == "" {
			return nil
		}
		tags, _ := claims[awsTagsClaim].(map[string]any)
		principal, _ := tags[awsTagsMember].(map[string]any)
		if v, ok = principal[tag]; !ok {
			return nil
		}
		splitElems = true
	}
	g := groupSet{}
	switch x := v.(type) {
	case string:
		g.addSplit(x)
	case []string:
		for _, s := range x {
			if !g.addElem(s, splitElems) {
				break
			}
		}
	case []any:
		for _, e := range x {
			s, isString := e.(string)
			if !isString {
				continue
			}
			if !g.addElem(s, splitElems) {
				break
			}
		}
	}
	return g.out
}

type groupSet struct {
	out  []string
	seen map[string]struct{}
}

// addElem adds one list element; it reports false once the set is full.
func (g *groupSet) addElem(s string, split bool) bool {
	if split {
		return g.addSplit(s)
	}
	return g.add(s)
}

func (g *groupSet) addSplit(s string) bool {
	for part := range strings.SplitSeq(s, ":") {
		if !g.add(part) {
			return false
		}
	}
	return true
}

func (g *groupSet) add(s string) bool {
	if len(g.out) >= MaxGroups {
		return false
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return true
	}
	if g.seen == nil {
		g.seen = map[string]struct{}{}
	}
	if _, dup := g.seen[s]; dup {
		return true
	}
	g.seen[s] = struct{}{}
	g.out = append(g.out, s)
	return true
}
