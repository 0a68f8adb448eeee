package authz

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/cedar-policy/cedar-go/types"
	"github.com/cedar-policy/cedar-go/x/exp/ast"
	"github.com/cedar-policy/cedar-go/x/exp/schema"
	"github.com/cedar-policy/cedar-go/x/exp/schema/resolved"
	"github.com/cedar-policy/cedar-go/x/exp/schema/validate"
)

//go:embed schema.cedarschema
var embeddedSchema []byte

// DefaultSchema returns mcpguard's Cedar schema (authz/schema.cedarschema):
// what policies are type-checked against unless authz_config.schema_file
// names another. A deployment that reads claims or tool arguments the
// schema does not declare starts its own schema from this text.
func DefaultSchema() []byte { return bytes.Clone(embeddedSchema) }

// SchemaMode is how strictly policies are type-checked against the schema
// when they load (authz_config.schema_validation).
type SchemaMode string

const (
	// SchemaStrict rejects a policy set with any schema error.
	SchemaStrict SchemaMode = "strict"
	// SchemaWarn reports attribute errors (an attribute the schema does not
	// declare, an optional one read without has) as warnings and still
	// rejects the rest, for migrating a set written without a schema.
	SchemaWarn SchemaMode = "warn"
	// SchemaOff skips schema validation.
	SchemaOff SchemaMode = "off"
)

// ParseSchemaMode checks a schema_validation value.
func ParseSchemaMode(s string) (SchemaMode, error) {
	switch m := SchemaMode(s); m {
	case SchemaStrict, SchemaWarn, SchemaOff:
		return m, nil
	}
	return "", fmt.Errorf("schema validation mode %q is not strict, warn or off", s)
}

// policySchema is a parsed, resolved schema and its validator.
type policySchema struct {
	name      string
	resolved  *resolved.Schema
	validator *validate.Validator
}

// parseSchema parses Cedar schema text and prepares its validator.
func parseSchema(name string, data []byte) (*policySchema, error) {
	var s schema.Schema
	s.SetFilename(name)
	if err := s.UnmarshalCedar(data); err != nil {
		return nil, fmt.Errorf("schema %s: %w", name, err)
	}
	r, err := s.Resolve()
	if err != nil {
		return nil, fmt.Errorf("schema %s: %w", name, err)
	}
	return &policySchema{name: name, resolved: r, validator: validate.New(r, validate.WithStrict())}, nil
}

// builtinSchema is the embedded schema, parsed once per process.
var builtinSchema = sync.OnceValues(func() (*policySchema, error) {
	return parseSchema("schema.cedarschema", embeddedSchema)
})

// diagClass sorts schema problems; SchemaWarn downgrades the attribute
// classes.
type diagClass int

const (
	diagOther diagClass = iota
	diagUnknownEntityType
	diagUnknownAction
	diagUnknownAttribute
	diagOptionalAttribute
	diagWrongType
)

// schemaDiag is one schema problem of one policy.
type schemaDiag struct {
	class  diagClass
	file   string
	line   int
	col    int
	policy string
	msg    string
}

func (d schemaDiag) String() string {
	return fmt.Sprintf("%s:%d:%d: policy %q: %s", d.file, d.line, d.col, d.policy, d.msg)
}

// policyText locates one policy in its file, so a problem can be pointed at
// the line and column of the attribute that causes it.
type policyText struct {
	file  string
	src   []byte
	start int // offset of the policy
	end   int // offset of the next policy in the file, or the file's end
}

// newPolicyText locates list[j], which was parsed from src.
func newPolicyText(file string, src []byte, starts []int, j int) policyText {
	end := len(src)
	if j+1 < len(starts) {
		end = starts[j+1]
	}
	return policyText{file: file, src: src, start: starts[j], end: end}
}

// lineColAt is the 1-based line and column of offset off.
func (pt policyText) lineColAt(off int) (int, int) { return lineCol(pt.src, off) }

// find returns the offset of the first match of any pattern within the
// policy, or the policy's own offset.
func (pt policyText) find(patterns ...*regexp.Regexp) int {
	body := pt.src[pt.start:pt.end]
	for _, re := range patterns {
		if loc := re.FindIndex(body); loc != nil {
			return pt.start + loc[0]
		}
	}
	return pt.start
}

// msgNoApplicableAction is cedar-go's message for a scope that no action
// of the schema applies to.
const msgNoApplicableAction = "unable to find an applicable action given the policy scope constraints"

// Patterns of cedar-go's validator messages.
var (
	reUnknownType     = regexp.MustCompile("unrecognized entity type `([^`]+)`")
	reUnknownAction   = regexp.MustCompile("unrecognized action `([^`]+)`")
	reAttrNotFound    = regexp.MustCompile("attribute `([^`]+)` (?:on entity types? .*|in context for .*) not found")
	reOptionalAttr    = regexp.MustCompile("unable to guarantee safety of access to optional attribute `([^`]+)`")
	reUnexpectedType  = regexp.MustCompile(`^unexpected type: expected (.+) but saw (.+)$`)
	reActionUIDString = regexp.MustCompile(`^Action::"((?:[^"\\]|\\.)*)"$`)
)

// validatePolicies type-checks every entry against sch. It returns the
// problems that reject the set under mode and those that are only
// warnings.
func validatePolicies(sch *policySchema, mode SchemaMode, entries []*policyEntry, texts map[types.PolicyID]policyText) (errs []error, warnings []string) {
	if mode == SchemaOff || sch == nil {
		return nil, nil
	}
	for _, e := range entries {
		for _, d := range sch.checkPolicy(e, texts[e.id]) {
			if mode == SchemaWarn && (d.class == diagUnknownAttribute || d.class == diagOptionalAttribute) {
				warnings = append(warnings, d.String())
				continue
			}
			errs = append(errs, errors.New(d.String()))
		}
	}
	return errs, warnings
}

// checkPolicy runs cedar-go's validator on one policy and turns each of its
// messages into a located diagnostic. It adds what the validator does not
// report: a has test on an attribute the schema never declares, which is
// always false and silently disables the condition (a forbid that never
// fires).
func (sch *policySchema) checkPolicy(e *policyEntry, pt policyText) []schemaDiag {
	a := (*ast.Policy)(e.policy.AST())
	chains := collectChains(a)
	envs := sch.policyEnvs(a)
	var diags []schemaDiag
	seen := map[string]bool{}
	add := func(class diagClass, off int, msg string) {
		if seen[msg] {
			return
		}
		seen[msg] = true
		line, col := pt.lineColAt(off)
		diags = append(diags, schemaDiag{class: class, file: pt.file, line: line, col: col, policy: string(e.id), msg: msg})
	}
	if err := sch.validator.Policy("", a); err != nil {
		verrs := flatten(err)
		scopeUnknown := false
		for _, ve := range verrs {
			if m := ve.Error(); reUnknownType.MatchString(m) || reUnknownAction.MatchString(m) {
				scopeUnknown = true
			}
		}
		for _, ve := range verrs {
			msg := ve.Error()
			switch {
			case scopeUnknown && msg == msgNoApplicableAction:
				// Follows from the unknown type or action reported.
			case reUnknownType.MatchString(msg):
				t := reUnknownType.FindStringSubmatch(msg)[1]
				known := make([]string, 0, len(sch.resolved.Entities))
				for et := range sch.resolved.Entities {
					known = append(known, string(et))
				}
				off := pt.find(regexp.MustCompile(`\b`+regexp.QuoteMeta(t)+`\s*::`), regexp.MustCompile(`\bis\s+`+regexp.QuoteMeta(t)+`\b`))
				add(diagUnknownEntityType, off, "unknown entity type "+t+suggest(t, known, ""))
			case reUnknownAction.MatchString(msg):
				uid := reUnknownAction.FindStringSubmatch(msg)[1]
				var known []string
				for au := range sch.resolved.Actions {
					known = append(known, au.String())
				}
				off := pt.start
				if m := reActionUIDString.FindStringSubmatch(uid); m != nil {
					off = pt.find(regexp.MustCompile(`Action\s*::\s*"` + regexp.QuoteMeta(m[1]) + `"`))
				}
				add(diagUnknownAction, off, "unknown action "+uid+suggest(uid, known, ""))
			case reAttrNotFound.MatchString(msg):
				path := reAttrNotFound.FindStringSubmatch(msg)[1]
				attr := path[strings.LastIndexAny(path, ".")+1:]
				c, r, ok := findMissing(chains, attr, envs, sch)
				if !ok {
					add(diagUnknownAttribute, pt.start, "unknown attribute "+path)
					continue
				}
				add(diagUnknownAttribute, pt.find(c.patterns()...), unknownAttrMessage(c, r))
			case reOptionalAttr.MatchString(msg):
				path := reOptionalAttr.FindStringSubmatch(msg)[1]
				attr := path[strings.LastIndexAny(path, ".")+1:]
				full, off := path, pt.start
				for _, c := range chains {
					if !c.has && c.last() == attr && strings.HasSuffix(c.String(), "."+path) {
						full, off = c.String(), pt.find(c.patterns()...)
						break
					}
				}
				parent := full
				if i := strings.LastIndex(full, "."); i >= 0 {
					parent = full[:i]
				}
				add(diagOptionalAttribute, off, fmt.Sprintf("attribute %s is optional: guard the read with `%s has %s &&`", full, parent, attr))
			case reUnexpectedType.MatchString(msg):
				m := reUnexpectedType.FindStringSubmatch(msg)
				add(diagWrongType, pt.start, fmt.Sprintf("wrong type: expected %s, found %s", m[1], m[2]))
			default:
				add(diagOther, pt.start, msg)
			}
		}
	}
	for _, c := range chains {
		if !c.has {
			continue
		}
		if r := c.resolve(envs, sch); r.missingAll {
			add(diagUnknownAttribute, pt.find(c.patterns()...), unknownAttrMessage(c, r))
		}
	}
	// The validator's order depends on map iteration; report in source
	// order.
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i], diags[j]
		if a.line != b.line {
			return a.line < b.line
		}
		if a.col != b.col {
			return a.col < b.col
		}
		return a.msg < b.msg
	})
	return diags
}

func flatten(err error) []error {
	if u, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range u.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// unknownAttrMessage names the attribute in full and the closest declared
// one, or the declared ones when none is close.
func unknownAttrMessage(c attrChain, r chainResolution) string {
	msg := "unknown attribute " + c.String()
	parent := c.parent()
	if len(r.missingFor) > 0 {
		more := ""
		if len(r.missingFor) > 1 {
			more = fmt.Sprintf(" and %d more", len(r.missingFor)-1)
		}
		return fmt.Sprintf("attribute %s is not declared for %s%s: narrow the action scope, or test `%s has %s` first",
			c.String(), r.missingFor[0], more, parent, c.last())
	}
	if s := suggest(c.last(), r.siblings, parent+"."); s != "" {
		return msg + s
	}
	if len(r.siblings) == 0 {
		return msg + " (" + parent + " declares no attributes)"
	}
	return msg + " (" + parent + " declares " + strings.Join(r.siblings, ", ") + ")"
}

// findMissing is the first chain ending in attr that the schema shows to be
// missing from its record in some environment.
func findMissing(chains []attrChain, attr string, envs []policyEnv, sch *policySchema) (attrChain, chainResolution, bool) {
	for _, c := range chains {
		if c.last() != attr {
			continue
		}
		if r := c.resolve(envs, sch); r.missingSome {
			return c, r, true
		}
	}
	return attrChain{}, chainResolution{}, false
}

// suggest returns ` (did you mean PREFIX+X?)` for the candidate nearest to
// name, or "" when none is near: an edit distance of at most two and less
// than half the name, or the same name in another case.
func suggest(name string, candidates []string, prefix string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		d := editDistance(name, c)
		if strings.EqualFold(name, c) {
			d = 0
		}
		if d < bestD || (d == bestD && c < best) {
			best, bestD = c, d
		}
	}
	if best == "" || bestD > 2 || bestD*2 >= len([]rune(name)) && bestD > 0 && !strings.EqualFold(name, best) {
		return ""
	}
	return " (did you mean " + prefix + best + "?)"
}

// editDistance is the Levenshtein distance of a and b, in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// attrChain is an attribute read or has test on a request variable:
// context.aws_cli.service, resource has tool_name.
type attrChain struct {
	root string   // principal, resource or context
	path []string // the attributes, the last one read or tested
	has  bool     // the last attribute is tested with has
}

func (c attrChain) last() string { return c.path[len(c.path)-1] }

// parent is the chain without its last attribute, as text.
func (c attrChain) parent() string {
	return strings.Join(append([]string{c.root}, c.path[:len(c.path)-1]...), ".")
}

func (c attrChain) String() string {
	return strings.Join(append([]string{c.root}, c.path...), ".")
}

// patterns find the chain in policy text: the whole dotted read, or the has
// test, then the last attribute alone.
func (c attrChain) patterns() []*regexp.Regexp {
	quoted := make([]string, 0, len(c.path)+1)
	quoted = append(quoted, regexp.QuoteMeta(c.root))
	for _, p := range c.path {
		quoted = append(quoted, regexp.QuoteMeta(p))
	}
	last := regexp.QuoteMeta(c.last())
	parent := strings.Join(quoted[:len(quoted)-1], `\s*\.\s*`)
	full := strings.Join(quoted, `\s*\.\s*`)
	out := []*regexp.Regexp{}
	if c.has {
		out = append(out, regexp.MustCompile(`\b`+parent+`\s+has\s+`+last+`\b`))
	} else {
		out = append(out, regexp.MustCompile(`\b`+full+`\b`))
	}
	out = append(out,
		regexp.MustCompile(`\.\s*`+last+`\b`),
		regexp.MustCompile(`\bhas\s+`+last+`\b`),
		regexp.MustCompile(`\[\s*"`+last+`"\s*\]`))
	return out
}

// collectChains lists every attribute read and has test in the policy's
// conditions that starts at principal, resource or context, in source
// order.
func collectChains(p *ast.Policy) []attrChain {
	var out []attrChain
	seen := map[string]bool{}
	for _, cond := range p.Conditions {
		ast.Inspect(ast.NewNode(cond.Body), func(n ast.IsNode) bool {
			var c attrChain
			var ok bool
			switch v := n.(type) {
			case ast.NodeTypeAccess:
				c, ok = chainOf(v.Arg)
				c.path = append(c.path, string(v.Value))
			case ast.NodeTypeHas:
				c, ok = chainOf(v.Arg)
				c.path = append(c.path, string(v.Value))
				c.has = true
			}
			if ok {
				key := fmt.Sprint(c.has, c.String())
				if !seen[key] {
					seen[key] = true
					out = append(out, c)
				}
			}
			return true
		})
	}
	return out
}

// chainOf reads a chain of attribute accesses down to its variable.
func chainOf(n ast.IsNode) (attrChain, bool) {
	switch v := n.(type) {
	case ast.NodeTypeVariable:
		switch v.Name {
		case "principal", "resource", "context":
			return attrChain{root: string(v.Name)}, true
		}
	case ast.NodeTypeAccess:
		c, ok := chainOf(v.Arg)
		if ok {
			c.path = append(slices.Clone(c.path), string(v.Value))
		}
		return c, ok
	}
	return attrChain{}, false
}

// policyEnv is one request type a policy can be evaluated for.
type policyEnv struct {
	principal types.EntityType
	action    types.EntityUID
	resource  types.EntityType
}

// policyEnvs lists the request types of the schema the policy's scope can
// match.
func (sch *policySchema) policyEnvs(p *ast.Policy) []policyEnv {
	var actions []types.EntityUID
	switch s := p.Action.(type) {
	case ast.ScopeTypeEq:
		actions = []types.EntityUID{s.Entity}
	case ast.ScopeTypeIn:
		actions = []types.EntityUID{s.Entity}
	case ast.ScopeTypeInSet:
		actions = s.Entities
	default:
		for uid := range sch.resolved.Actions {
			actions = append(actions, uid)
		}
	}
	pTypes := scopeEntityTypes(p.Principal)
	rTypes := scopeEntityTypes(p.Resource)
	var envs []policyEnv
	for _, uid := range actions {
		act, ok := sch.resolved.Actions[uid]
		if !ok || act.AppliesTo == nil {
			continue
		}
		for _, pt := range act.AppliesTo.Principals {
			if pTypes != nil && !slices.Contains(pTypes, pt) {
				continue
			}
			for _, rt := range act.AppliesTo.Resources {
				if rTypes != nil && !slices.Contains(rTypes, rt) {
					continue
				}
				envs = append(envs, policyEnv{principal: pt, action: uid, resource: rt})
			}
		}
	}
	return envs
}

// scopeEntityTypes is the entity types a principal or resource scope
// allows, nil for any.
func scopeEntityTypes(n ast.IsScopeNode) []types.EntityType {
	switch s := n.(type) {
	case ast.ScopeTypeEq:
		return []types.EntityType{s.Entity.Type}
	case ast.ScopeTypeIs:
		return []types.EntityType{s.Type}
	case ast.ScopeTypeIsIn:
		return []types.EntityType{s.Type}
	}
	return nil
}

// chainResolution is what the schema says about a chain's last attribute
// over a policy's environments.
type chainResolution struct {
	missingSome bool     // the record is known and lacks it in some environment
	missingAll  bool     // ... in every environment in which the record is known
	siblings    []string // attributes the record declares where it is missing
	// missingFor are the actions lacking it when others have it.
	missingFor []string
}

func (c attrChain) resolve(envs []policyEnv, sch *policySchema) chainResolution {
	var r chainResolution
	present, missing := false, false
	sib := map[string]bool{}
	for _, env := range envs {
		var rec resolved.RecordType
		switch c.root {
		case "principal":
			rec = sch.resolved.Entities[env.principal].Shape
		case "resource":
			rec = sch.resolved.Entities[env.resource].Shape
		case "context":
			rec = sch.resolved.Actions[env.action].AppliesTo.Context
		}
		known := true
		for _, seg := range c.path[:len(c.path)-1] {
			attr, ok := rec[types.String(seg)]
			if !ok {
				known = false
				break
			}
			switch t := attr.Type.(type) {
			case resolved.RecordType:
				rec = t
			case resolved.EntityType:
				rec = sch.resolved.Entities[types.EntityType(t)].Shape
			default:
				known = false
			}
			if !known {
				break
			}
		}
		if !known {
			continue
		}
		if _, ok := rec[types.String(c.last())]; ok {
			present = true
			continue
		}
		missing = true
		if !slices.Contains(r.missingFor, env.action.String()) {
			r.missingFor = append(r.missingFor, env.action.String())
		}
		for k := range rec {
			sib[string(k)] = true
		}
	}
	r.missingSome = missing
	r.missingAll = missing && !present
	if r.missingAll {
		r.missingFor = nil
	}
	sort.Strings(r.missingFor)
	for k := range sib {
		r.siblings = append(r.siblings, k)
	}
	sort.Strings(r.siblings)
	return r
}

// readSchemaSource reads the schema file into src when validation is on and
// a file replaces the embedded schema.
func readSchemaSource(opts *Options, src *source, read func(string) ([]byte, error)) error {
	src.schemaMode = opts.SchemaValidation
	if src.schemaMode == "" {
		src.schemaMode = SchemaOff
	}
	if _, err := ParseSchemaMode(string(src.schemaMode)); err != nil {
		return err
	}
	if src.schemaMode == SchemaOff || opts.SchemaFile == "" {
		return nil
	}
	data, err := read(opts.SchemaFile)
	if err != nil {
		return err
	}
	src.schemaPath, src.schemaData = opts.SchemaFile, data
	return nil
}

// checkSchema validates the parsed policies of src against its schema. err
// is a schema that does not parse.
func checkSchema(src *source, entries []*policyEntry, texts map[types.PolicyID]policyText) (errs []error, warnings []string, err error) {
	if src.schemaMode == SchemaOff || src.schemaMode == "" {
		return nil, nil, nil
	}
	sch, err := builtinSchema()
	if src.schemaPath != "" {
		sch, err = parseSchema(src.schemaPath, src.schemaData)
	}
	if err != nil {
		return nil, nil, err
	}
	errs, warnings = validatePolicies(sch, src.schemaMode, entries, texts)
	return errs, warnings, nil
}

// logSchemaWarnings logs the problems schema_validation: warn let through,
// at every load, so a migration's remaining work stays visible.
func (a *Authorizer) logSchemaWarnings(s *snapshot) {
	for _, w := range s.schemaWarnings {
		a.log.Warn("authz policy does not match the schema", "problem", w)
	}
}
