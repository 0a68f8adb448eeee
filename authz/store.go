package authz

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"
	"github.com/cedar-policy/cedar-go/x/exp/ast"
)

// policyEntry is one compiled policy with the facts the decision needs
// without asking cedar-go again on the hot path.
type policyEntry struct {
	id     types.PolicyID
	policy *cedar.Policy
	forbid bool
	pos    types.Position
	// readsContext is true when a condition reads context; list
	// visibility skips the variants of context for policies that do not.
	readsContext bool
	// requiresScope are the OAuth scopes of its @requires_scope
	// annotation (space-separated), for step-up challenges.
	requiresScope []string
}

// snapshot is one complete, immutable policy set. Requests read it through
// an atomic pointer; a reload builds a new one and swaps it in whole.
type snapshot struct {
	byID     map[types.PolicyID]*policyEntry
	sorted   []*policyEntry // by ID, for reports
	index    policyIndex
	entities types.EntityMap
	// principals caches principal entities by token digest; nil disables
	// caching.
	principals *principalCache
	// decisions caches decisions (see decisionCache); nil when the
	// policies' decisions cannot be keyed.
	decisions *decisionCache
	files     []fileStat
	hash      [sha256.Size]byte
	// emptyFiles are the policy files that hold no policy (display
	// names); forbids counts the forbid policies. Reloads compare both
	// with the set in force (see guardrails).
	emptyFiles []string
	forbids    int
	// schemaWarnings are the schema problems that SchemaWarn let through.
	schemaWarnings []string
}

// fileStat is the cheap fingerprint of one source file; polling compares it
// before reading contents.
type fileStat struct {
	path string
	size int64
	mod  time.Time
}

// source is the raw material of a snapshot: every policy file and the
// entities file, read once.
type source struct {
	policyPaths  []string
	policyData   [][]byte
	entitiesPath string
	entitiesData []byte
	schemaPath   string // "" for the embedded schema
	schemaData   []byte
	schemaMode   SchemaMode
	stats        []fileStat
	hash         [sha256.Size]byte
}

// expandPatterns resolves policy_files globs (re-expanded on every reload,
// so a new file in a watched folder is picked up). A pattern that matches
// nothing is an error: a missing policy file is a configuration mistake, not
// an empty policy.
func expandPatterns(patterns []string) ([]string, error) {
	if len(patterns) == 0 {
		return nil, errors.New("no policy files configured")
	}
	var paths []string
	var errs []error
	for _, p := range patterns {
		matches, err := filepath.Glob(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("policy_files %q: %w", p, err))
			continue
		}
		if len(matches) == 0 {
			errs = append(errs, fmt.Errorf("policy_files %q matches no file", p))
			continue
		}
		paths = append(paths, matches...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.Sort(paths)
	return slices.Compact(paths), nil
}

// statSources returns the fingerprints of every file a snapshot would be
// built from.
func statSources(opts *Options) ([]fileStat, error) {
	paths, err := expandPatterns(opts.PolicyFiles)
	if err != nil {
		return nil, err
	}
	if opts.EntitiesFile != "" {
		paths = append(paths, opts.EntitiesFile)
	}
	if opts.SchemaFile != "" && opts.SchemaValidation != SchemaOff && opts.SchemaValidation != "" {
		paths = append(paths, opts.SchemaFile)
	}
	stats := make([]fileStat, 0, len(paths))
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("stat policy source: %w", err)
		}
		stats = append(stats, fileStat{path: p, size: fi.Size(), mod: fi.ModTime()})
	}
	return stats, nil
}

// readSources reads every policy file and the entities file and hashes
// their names and contents together.
func readSources(opts *Options) (*source, error) {
	paths, err := expandPatterns(opts.PolicyFiles)
	if err != nil {
		return nil, err
	}
	src := &source{policyPaths: paths, entitiesPath: opts.EntitiesFile}
	h := sha256.New()
	read := func(p string) ([]byte, error) {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read policy source: %w", err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("stat policy source: %w", err)
		}
		src.stats = append(src.stats, fileStat{path: p, size: fi.Size(), mod: fi.ModTime()})
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
		binary.BigEndian.PutUint64(n[:], uint64(len(data)))
		h.Write(n[:])
		h.Write(data)
		return data, nil
	}
	for _, p := range paths {
		data, err := read(p)
		if err != nil {
			return nil, err
		}
		src.policyData = append(src.policyData, data)
	}
	if opts.EntitiesFile != "" {
		data, err := read(opts.EntitiesFile)
		if err != nil {
			return nil, err
		}
		src.entitiesData = data
	}
	if err := readSchemaSource(opts, src, read); err != nil {
		return nil, err
	}
	copy(src.hash[:], h.Sum(nil))
	return src, nil
}

// buildSnapshot parses and compiles a whole source. Every problem in every
// file is reported, so a broken set can be fixed in one pass.
func buildSnapshot(src *source) (*snapshot, error) {
	names := displayNames(src.policyPaths)
	s := &snapshot{byID: map[types.PolicyID]*policyEntry{}, hash: src.hash, files: src.stats, principals: newPrincipalCache()}
	var errs []error
	texts := map[types.PolicyID]policyText{}
	for i := range src.policyPaths {
		list, err := cedar.NewPolicyListFromBytes(names[i], src.policyData[i])
		if err != nil {
			errs = append(errs, parseError(names[i], src.policyData[i], err))
			continue
		}
		if len(list) == 0 {
			s.emptyFiles = append(s.emptyFiles, names[i])
		}
		perLine := map[int]int{}
		starts := make([]int, len(list))
		for j, p := range list {
			perLine[p.Position().Line]++
			starts[j] = p.Position().Offset
		}
		for j, p := range list {
			pos := p.Position()
			// file:line, or file:line:col when policies share a line.
			id := types.PolicyID(names[i] + ":" + strconv.Itoa(pos.Line))
			if perLine[pos.Line] > 1 {
				id += types.PolicyID(":" + strconv.Itoa(pos.Column))
			}
			if v, ok := p.Annotations()["id"]; ok {
				if v == "" {
					errs = append(errs, fmt.Errorf("%s:%d:%d: @id is empty", names[i], pos.Line, pos.Column))
					continue
				}
				id = types.PolicyID(v)
			}
			if prev, dup := s.byID[id]; dup {
				errs = append(errs, fmt.Errorf("%s:%d:%d: duplicate policy id %q (first at %s:%d)",
					names[i], pos.Line, pos.Column, id, prev.pos.Filename, prev.pos.Line))
				continue
			}
			e := &policyEntry{id: id, policy: p, forbid: p.Effect() == cedar.Forbid, pos: pos, readsContext: readsContext(p)}
			if v, ok := p.Annotations()[annotationRequiresScope]; ok {
				if e.requiresScope = strings.Fields(string(v)); len(e.requiresScope) == 0 {
					errs = append(errs, fmt.Errorf("%s:%d:%d: @%s is empty", names[i], pos.Line, pos.Column, annotationRequiresScope))
					continue
				}
			}
			if e.forbid {
				s.forbids++
			}
			s.byID[id] = e
			s.sorted = append(s.sorted, e)
			texts[id] = newPolicyText(names[i], src.policyData[i], starts, j)
		}
	}
	s.entities = types.EntityMap{}
	if src.entitiesPath != "" {
		if err := json.Unmarshal(src.entitiesData, &s.entities); err != nil {
			errs = append(errs, fmt.Errorf("entities file %s: %w", src.entitiesPath, err))
		}
	}
	serrs, swarn, err := checkSchema(src, s.sorted, texts)
	if err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, serrs...)
	s.schemaWarnings = swarn
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.SortFunc(s.sorted, func(a, b *policyEntry) int { return strings.Compare(string(a.id), string(b.id)) })
	s.index = buildIndex(s.sorted, s.entities)
	s.decisions = newDecisionCache(s.sorted)
	return s, nil
}

// displayNames gives each policy file the short name used in policy IDs and
// messages: its base name, or its full path when two files share a base
// name.
func displayNames(paths []string) []string {
	count := map[string]int{}
	for _, p := range paths {
		count[filepath.Base(p)]++
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = filepath.Base(p)
		if count[names[i]] > 1 {
			names[i] = p
		}
	}
	return names
}

// parseErrRE picks the position out of cedar-go's parse errors, which name
// the input "<input>" rather than the file.
var parseErrRE = regexp.MustCompile(`parse error at [^:]*:(\d+):(\d+) (.*)$`)

// startsWithRE finds the expression a policy applied startsWith or endsWith
// to, so the error can show the like form with the author's own operands.
var startsWithRE = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\.\s*(startsWith|endsWith)\s*\(\s*"((?:[^"\\]|\\.)*)"\s*\)`)

// parseError turns a cedar-go parse error into "file:line:col: message",
// adding the like form when the policy used a string method Cedar lacks.
func parseError(name string, src []byte, err error) error {
	msg := err.Error()
	m := parseErrRE.FindStringSubmatch(msg)
	if m == nil {
		return fmt.Errorf("%s: %s", name, msg)
	}
	line, _ := strconv.Atoi(m[1])
	col, _ := strconv.Atoi(m[2])
	detail := m[3]
	if tok, rest, ok := strings.Cut(detail, ": "); ok && strings.HasPrefix(tok, `"`) {
		detail = "near " + tok + ": " + rest
	}
	for _, method := range []string{"startsWith", "endsWith"} {
		if !strings.Contains(msg, "`"+method+"` is not a method") {
			continue
		}
		expr, pattern := "resource.arguments.cli_command", `"prefix*"`
		if method == "endsWith" {
			pattern = `"*suffix"`
		}
		// Cedar reports the end of the condition; point at the call itself,
		// the last one before that position.
		limit := offsetOf(src, line, col)
		for _, ix := range startsWithRE.FindAllSubmatchIndex(src, -1) {
			if ix[0] > limit {
				break
			}
			if string(src[ix[4]:ix[5]]) != method {
				continue
			}
			expr = string(src[ix[2]:ix[3]])
			lit := strings.ReplaceAll(string(src[ix[6]:ix[7]]), "*", `\*`)
			if method == "startsWith" {
				pattern = `"` + lit + `*"`
			} else {
				pattern = `"*` + lit + `"`
			}
			line, col = lineCol(src, ix[4])
		}
		detail = fmt.Sprintf("`%s` is not a method: Cedar has no %s, write: %s like %s", method, method, expr, pattern)
	}
	return fmt.Errorf("%s:%d:%d: %s", name, line, col, detail)
}

// offsetOf converts a 1-based line and column to a byte offset in src.
func offsetOf(src []byte, line, col int) int {
	off := 0
	for l := 1; l < line; l++ {
		i := bytes.IndexByte(src[off:], '\n')
		if i < 0 {
			return len(src)
		}
		off += i + 1
	}
	return min(off+col-1, len(src))
}

// lineCol converts a byte offset in src to a 1-based line and column.
func lineCol(src []byte, off int) (int, int) {
	before := src[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := off - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// scopeBucket holds policies by their resource scope so a request only
// evaluates policies that could match its resource.
type scopeBucket struct {
	any    []*policyEntry
	byUID  map[types.EntityUID][]*policyEntry
	byType map[types.EntityType][]*policyEntry
}

func (b *scopeBucket) add(e *policyEntry, res ast.IsResourceScopeNode) {
	switch r := res.(type) {
	case ast.ScopeTypeEq:
		if b.byUID == nil {
			b.byUID = map[types.EntityUID][]*policyEntry{}
		}
		b.byUID[r.Entity] = append(b.byUID[r.Entity], e)
	case ast.ScopeTypeIs:
		if b.byType == nil {
			b.byType = map[types.EntityType][]*policyEntry{}
		}
		b.byType[r.Type] = append(b.byType[r.Type], e)
	case ast.ScopeTypeIsIn:
		if b.byType == nil {
			b.byType = map[types.EntityType][]*policyEntry{}
		}
		b.byType[r.Type] = append(b.byType[r.Type], e)
	default:
		b.any = append(b.any, e)
	}
}

// policyIndex narrows the policies evaluated for a request by action and
// resource scope. It is a superset filter: Cedar still evaluates every scope
// of every candidate, so the index can only save work, never change a
// decision.
type policyIndex struct {
	anyAction scopeBucket
	byAction  map[types.EntityUID]*scopeBucket
}

// buildIndex files every policy under the actions its scope can match. An
// "in" scope covers the named entity and, through the entities file, all its
// descendants; the request's action never has other parents.
func buildIndex(entries []*policyEntry, entities types.EntityMap) policyIndex {
	ix := policyIndex{byAction: map[types.EntityUID]*scopeBucket{}}
	var descendants map[types.EntityUID][]types.EntityUID
	addTo := func(uid types.EntityUID, e *policyEntry, res ast.IsResourceScopeNode) {
		b := ix.byAction[uid]
		if b == nil {
			b = &scopeBucket{}
			ix.byAction[uid] = b
		}
		b.add(e, res)
	}
	for _, e := range entries {
		a := (*ast.Policy)(e.policy.AST())
		var targets []types.EntityUID
		switch s := a.Action.(type) {
		case ast.ScopeTypeEq:
			targets = []types.EntityUID{s.Entity}
		case ast.ScopeTypeIn:
			targets = []types.EntityUID{s.Entity}
		case ast.ScopeTypeInSet:
			targets = s.Entities
		default:
			ix.anyAction.add(e, a.Resource)
			continue
		}
		if _, eq := a.Action.(ast.ScopeTypeEq); !eq {
			if descendants == nil {
				descendants = descendantMap(entities)
			}
			var all []types.EntityUID
			for _, t := range targets {
				all = append(all, t)
				all = append(all, descendants[t]...)
			}
			targets = uniqueUIDs(all)
		}
		for _, t := range targets {
			addTo(t, e, a.Resource)
		}
	}
	return ix
}

// descendantMap maps each entity to every entity that is transitively in it.
func descendantMap(entities types.EntityMap) map[types.EntityUID][]types.EntityUID {
	out := map[types.EntityUID][]types.EntityUID{}
	for uid := range entities {
		seen := map[types.EntityUID]bool{}
		stack := []types.EntityUID{uid}
		for len(stack) > 0 {
			cur := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			ent, ok := entities[cur]
			if !ok {
				continue
			}
			for p := range ent.Parents.All() {
				if !seen[p] {
					seen[p] = true
					out[p] = append(out[p], uid)
					stack = append(stack, p)
				}
			}
		}
	}
	return out
}

func uniqueUIDs(in []types.EntityUID) []types.EntityUID {
	seen := make(map[types.EntityUID]bool, len(in))
	out := in[:0]
	for _, u := range in {
		if !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	return out
}

// candidates is the set of policies one request must evaluate: at most six
// slices, each policy in exactly one of them.
type candidates [6][]*policyEntry

func (ix *policyIndex) candidates(action, resource types.EntityUID) candidates {
	var c candidates
	fill := func(off int, b *scopeBucket) {
		c[off] = b.any
		c[off+1] = b.byUID[resource]
		c[off+2] = b.byType[resource.Type]
	}
	fill(0, &ix.anyAction)
	if b := ix.byAction[action]; b != nil {
		fill(3, b)
	}
	return c
}

// All lets cedar.Authorize iterate the candidates.
func (c *candidates) All() iter.Seq2[types.PolicyID, *cedar.Policy] {
	return func(yield func(types.PolicyID, *cedar.Policy) bool) {
		for _, s := range c {
			for _, e := range s {
				if !yield(e.id, e.policy) {
					return
				}
			}
		}
	}
}

// equalStats reports whether two fingerprints describe the same files.
func equalStats(a, b []fileStat) bool {
	return slices.EqualFunc(a, b, func(x, y fileStat) bool {
		return x.path == y.path && x.size == y.size && x.mod.Equal(y.mod)
	})
}

// ErrGuardrailRemoved marks a policy set refused because it would silently
// drop guard rails: a configured policy file that holds no policy (an
// emptied or truncated file), or a reload that loses every forbid the set
// in force had. Options.AllowGuardrailRemoval accepts such a set.
var ErrGuardrailRemoved = errors.New("policy set would drop guard rails")

// guardrails checks next against the set in force (nil at startup). An
// emptied guardrails file parses fine, so without this check its forbids
// would vanish on the next poll and every request they refused would be
// allowed by the permits that remain.
func guardrails(cur, next *snapshot) error {
	var errs []error
	for _, f := range next.emptyFiles {
		errs = append(errs, fmt.Errorf("policy file %s holds no policy", f))
	}
	if cur != nil && cur.forbids > 0 && next.forbids == 0 {
		errs = append(errs, fmt.Errorf("the new set has no forbid policy; the set in force has %d", cur.forbids))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w (authz_config.allow_guardrail_removal accepts it): %w", ErrGuardrailRemoved, errors.Join(errs...))
}
