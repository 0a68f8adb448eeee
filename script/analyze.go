package script

import (
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"
	"unsafe"

	"golang.org/x/text/unicode/norm"
)

// target is the one function through which a script reaches AWS.
const target = "call_boto3"

// walker analyses one flattened tree.
type walker struct {
	a      *Analyzer
	src    string
	n      []node
	parent []int32

	reasons []string
	calls   []Call
	seen    map[string]bool

	// Computed on first use by resolveLoopVar and the module checks.
	declared map[string]bool  // names in global/nonlocal statements or walrus targets
	modules  map[string]bool  // names bound by import statements
	loops    map[int][]string // resolveLoopVar's result per for statement; nil: not resolvable
}

func (w *walker) kind(i int) kind { return gram.kinds[w.n[i].sym] }

func (w *walker) text(i int) string { return w.src[w.n[i].start:w.n[i].end] }

// name returns an identifier's name as Python sees it: NFKC-normalised, so
// that ｅｖａｌ is eval.
func (w *walker) name(i int) string {
	s := w.text(i)
	for j := 0; j < len(s); j++ {
		if s[j] >= utf8.RuneSelf {
			return norm.NFKC.String(s)
		}
	}
	return s
}

// children calls f for each direct child of i.
func (w *walker) children(i int, f func(c int) bool) {
	for c := i + 1; c < int(w.n[i].subend); c = int(w.n[c].subend) {
		if !f(c) {
			return
		}
	}
}

// child returns the first child of i in field f, or -1.
func (w *walker) child(i int, f uint16) int {
	r := -1
	w.children(i, func(c int) bool {
		if w.n[c].field == f {
			r = c
			return false
		}
		return true
	})
	return r
}

// namedChildren returns i's children that are not anonymous tokens or
// comments.
func (w *walker) namedChildren(i int) []int {
	var out []int
	w.children(i, func(c int) bool {
		if gram.named[w.n[c].sym] && w.kind(c) != kComment {
			out = append(out, c)
		}
		return true
	})
	return out
}

func (w *walker) reason(r string) { w.reasons = append(w.reasons, r) }

func (w *walker) run() Analysis {
	for i := range w.n {
		if w.n[i].missing != 0 {
			w.reason("parse_error")
			continue
		}
		switch w.kind(i) {
		case kError:
			w.reason("parse_error")
		case kPython2:
			w.reason("python2_syntax")
		case kIdentifier:
			w.identifier(i)
		case kCall:
			w.call(i)
		case kImport:
			w.importStatement(i)
		case kImportFrom:
			w.importFrom(i)
		case kWildcardImport:
			w.reason("wildcard_import")
		case kFutureImport:
			w.futureImport(i)
		case kAttribute:
			w.moduleAttribute(i)
		case kClassPattern:
			w.classPattern(i)
		case kBlock:
			// tree-sitter recovers a missing indented block as an empty
			// block instead of an error; CPython refuses the script.
			if len(w.namedChildren(i)) == 0 {
				w.reason("parse_error")
			}
		}
	}
	res := Analysis{Calls: w.calls, Reasons: w.reasons}
	if res.Calls == nil {
		res.Calls = []Call{}
	}
	slices.Sort(res.Reasons)
	res.Reasons = slices.Compact(res.Reasons)
	if res.Reasons == nil {
		res.Reasons = []string{}
	}
	res.Complete = len(res.Reasons) == 0
	return res
}

// identifier checks one name wherever it occurs: as a name, an attribute,
// an imported name, a keyword.
func (w *walker) identifier(i int) {
	name := w.name(i)
	p := int(w.parent[i])
	pk := kOther
	if p >= 0 {
		pk = w.kind(p)
	}
	f := w.n[i].field
	if name == target {
		if pk == kCall && f == gram.fFunction {
			return // checked by call
		}
		w.reason("call_boto3_as_value")
		return
	}
	// A dotted name outside an import is a value pattern of a case
	// (case a.b.c:): every name after the first is an attribute lookup.
	attr := pk == kAttribute && f == gram.fAttribute ||
		pk == kDottedName && w.firstChild(p) != i && !w.inImport(p)
	keyword := pk == kKeywordArgument && f == gram.fName
	imported := w.importedName(i)
	pattern := pk == kKeywordPattern && w.firstChild(p) == i
	if isDunder(name) && !w.allowedDunder(i, name, p, pk, attr) {
		w.reason("dunder:" + name)
		return
	}
	switch {
	case attr || imported || pattern:
		if blockedAttributes[name] {
			w.reason("attribute:" + name)
		}
		if (imported || pk == kDottedName) && moduleAttributes[name] {
			w.reason("attribute:" + name)
		}
	case keyword:
	default:
		if forbiddenNames[name] {
			w.reason("forbidden_builtin:" + name)
		}
		if name == "type" && !w.typeOfOne(i, p, pk) {
			w.reason("dynamic_class")
		}
		if w.isModule(name) && !w.moduleUse(i, p, pk) {
			w.reason("module_as_value:" + name)
		}
	}
}

// typeOfOne says whether the name type at i is called as type(x). Any
// other use can make a class from a dict whose keys are strings, so with
// dunder methods the analysis never sees (type("C", (), {"__setattr__":
// f})), including subclassing type.
func (w *walker) typeOfOne(i, p int, pk kind) bool {
	if pk != kCall || w.n[i].field != gram.fFunction {
		return false
	}
	args := w.child(p, gram.fArguments)
	if args < 0 || w.kind(args) != kArgumentList {
		return false
	}
	c := w.namedChildren(args)
	if len(c) != 1 {
		return false
	}
	switch w.kind(c[0]) {
	case kKeywordArgument, kListSplat, kDictionarySplat:
		return false
	}
	return true
}

func (w *walker) firstChild(i int) int {
	if i+1 < int(w.n[i].subend) {
		return i + 1
	}
	return -1
}

// allowedDunder says whether a dunder name may appear where it does.
func (w *walker) allowedDunder(i int, name string, p int, pk kind, attr bool) bool {
	switch {
	case attr:
		return allowedDunderAttributes[name]
	case allowedDunderNames[name]:
		return true
	case pk == kFunctionDefinition && w.n[i].field == gram.fName:
		// A method of a class: function_definition ← block ← class_definition,
		// possibly through decorated_definition.
		b := int(w.parent[p])
		if b >= 0 && w.kind(b) != kBlock {
			b = int(w.parent[b])
		}
		if b >= 0 && w.kind(b) == kBlock && w.parent[b] >= 0 && w.kind(int(w.parent[b])) == kClassDefinition {
			return allowedDunderMethods[name]
		}
		return false
	case pk == kDottedName && w.parent[p] >= 0 && w.kind(int(w.parent[p])) == kFutureImport:
		return name == "__future__"
	}
	return false
}

// inImport says whether node i is part of an import statement.
func (w *walker) inImport(i int) bool {
	for q := i; q >= 0; q = int(w.parent[q]) {
		switch w.kind(q) {
		case kImport, kImportFrom, kFutureImport:
			return true
		case kBlock, kModule:
			return false
		}
	}
	return false
}

// classPattern refuses positional sub-patterns in a class pattern (case
// C(x):): they look attributes up by the strings in C.__match_args__, which
// a class made with type(name, bases, {"__match_args__": ...}) controls.
// Keyword sub-patterns (case C(attr=x):) name the attribute and are
// checked by identifier.
func (w *walker) classPattern(i int) {
	w.children(i, func(c int) bool {
		if w.kind(c) != kCasePattern {
			return true
		}
		if f := w.firstChild(c); f < 0 || w.kind(f) != kKeywordPattern {
			w.reason("match_class_positional")
			return false
		}
		return true
	})
}

// importedName says whether identifier i names what a from-import takes
// from its module (from m import <name> [as alias]).
func (w *walker) importedName(i int) bool {
	p := int(w.parent[i])
	if p < 0 || w.kind(p) != kDottedName {
		return false
	}
	g := int(w.parent[p])
	if g < 0 {
		return false
	}
	switch w.kind(g) {
	case kImportFrom:
		return w.n[p].field == gram.fName
	case kAliasedImport:
		gg := int(w.parent[g])
		return gg >= 0 && w.kind(gg) == kImportFrom && w.n[p].field == gram.fName
	}
	return false
}

// call checks a call whose function is call_boto3 and records it.
func (w *walker) call(i int) {
	fn := w.child(i, gram.fFunction)
	if fn < 0 || w.kind(fn) != kIdentifier || w.name(fn) != target {
		return
	}
	if p := int(w.parent[i]); p >= 0 && w.kind(p) == kDecorator {
		w.reason("call_boto3_as_value")
		return
	}
	args := w.child(i, gram.fArguments)
	if args < 0 || w.kind(args) != kArgumentList {
		w.reason("call_boto3_positional_argument")
		return
	}
	kw := map[string]int{}
	ok := true
	for _, c := range w.namedChildren(args) {
		switch w.kind(c) {
		case kKeywordArgument:
			nameNode := w.child(c, gram.fName)
			val := w.child(c, gram.fValue)
			if nameNode < 0 || val < 0 {
				w.reason("parse_error")
				ok = false
				continue
			}
			k := w.name(nameNode)
			switch k {
			case "service_name", "operation_name", "region_name", "params":
			default:
				w.reason("call_boto3_unknown_keyword")
				ok = false
				continue
			}
			if _, dup := kw[k]; dup {
				w.reason("call_boto3_duplicate_keyword")
				ok = false
				continue
			}
			kw[k] = val
		case kListSplat, kDictionarySplat:
			w.reason("call_boto3_splat")
			ok = false
		default:
			w.reason("call_boto3_positional_argument")
			ok = false
		}
	}
	svc, op := "", ""
	if v, found := kw["service_name"]; !found {
		w.reason("missing_service")
		ok = false
	} else if s, lit := w.stringLiteral(v); !lit {
		w.reason("dynamic_service")
		ok = false
	} else {
		svc = s
	}
	if v, found := kw["operation_name"]; !found {
		w.reason("missing_operation")
		ok = false
	} else if s, lit := w.stringLiteral(v); !lit {
		w.reason("dynamic_operation")
		ok = false
	} else {
		op = s
	}
	regions := []string{""}
	if v, found := kw["region_name"]; found && w.kind(v) != kNone {
		if s, lit := w.stringLiteral(v); lit {
			regions = []string{s}
		} else if rs, res := w.resolveLoopVar(v); res {
			regions = rs
		} else {
			w.reason("dynamic_region")
			ok = false
		}
	}
	var params map[string]any
	paramsLiteral := true
	if v, found := kw["params"]; found && w.kind(v) != kNone {
		params, paramsLiteral = w.dictLiteral(v)
	}
	if !ok {
		return
	}
	for _, r := range regions {
		w.addCall(Call{Service: svc, Operation: op, Region: r, Params: params, ParamsLiteral: paramsLiteral})
	}
}

func (w *walker) addCall(c Call) {
	key, err := json.Marshal(c)
	if err != nil {
		w.reason("internal_error")
		return
	}
	if w.seen == nil {
		w.seen = map[string]bool{}
	}
	if w.seen[string(key)] {
		return
	}
	w.seen[string(key)] = true
	w.calls = append(w.calls, c)
}

// importStatement checks import a.b [as c], ...
func (w *walker) importStatement(i int) {
	w.children(i, func(c int) bool {
		if w.n[c].field != gram.fName {
			return true
		}
		m := c
		if w.kind(c) == kAliasedImport {
			m = w.child(c, gram.fName)
		}
		if m >= 0 {
			w.checkModule(m)
		}
		return true
	})
}

// futureImport checks from __future__ import feature, ...
func (w *walker) futureImport(i int) {
	w.children(i, func(c int) bool {
		if w.n[c].field != gram.fName {
			return true
		}
		name := c
		if w.kind(c) == kAliasedImport {
			name = w.child(c, gram.fName)
		}
		feature := ""
		if name >= 0 && w.kind(name) == kDottedName {
			if f := w.firstChild(name); f >= 0 && w.kind(f) == kIdentifier && int(w.n[f].subend) == int(w.n[name].subend) {
				feature = w.name(f)
			}
		}
		if !allowedFutures[feature] {
			w.reason("import:__future__." + feature)
		}
		return true
	})
}

// importFrom checks from m import ...; the imported names are checked as
// attributes by identifier.
func (w *walker) importFrom(i int) {
	m := w.child(i, gram.fModuleName)
	if m < 0 {
		w.reason("parse_error")
		return
	}
	if w.kind(m) != kDottedName {
		w.reason("import:relative")
		return
	}
	if w.dotted(m) == "typing" && !w.a.allowed["typing"] {
		w.typingImport(i)
		return
	}
	w.checkModule(m)
}

// typingImport checks from typing import ...: only typingNames.
func (w *walker) typingImport(i int) {
	w.children(i, func(c int) bool {
		if w.n[c].field != gram.fName {
			return true
		}
		name := c
		if w.kind(c) == kAliasedImport {
			name = w.child(c, gram.fName)
		}
		n := ""
		if name >= 0 && w.kind(name) == kDottedName {
			n = w.dotted(name)
		}
		if !typingNames[n] {
			w.reason("import:typing." + n)
		}
		return true
	})
	w.children(i, func(c int) bool {
		if w.kind(c) == kWildcardImport {
			w.reason("import:typing.*")
		}
		return true
	})
}

func (w *walker) checkModule(dotted int) {
	if w.kind(dotted) != kDottedName {
		w.reason("parse_error")
		return
	}
	if m := w.dotted(dotted); !w.a.allowed[m] {
		w.reason("import:" + m)
	}
}

// isModule says whether name is bound by an import statement somewhere in
// the script.
func (w *walker) isModule(name string) bool {
	if w.modules == nil {
		w.modules = map[string]bool{}
		for i := range w.n {
			if w.kind(i) == kImportFrom {
				w.submoduleImports(i)
				continue
			}
			if w.kind(i) != kImport {
				continue
			}
			w.children(i, func(c int) bool {
				if w.n[c].field != gram.fName {
					return true
				}
				switch w.kind(c) {
				case kAliasedImport:
					if a := w.child(c, gram.fAlias); a >= 0 {
						w.modules[w.name(a)] = true
					}
				case kDottedName:
					if f := w.firstChild(c); f >= 0 && w.kind(f) == kIdentifier {
						w.modules[w.name(f)] = true
					}
				}
				return true
			})
		}
	}
	return w.modules[name]
}

// submoduleImports records the names a from-import binds to allowed
// modules (from collections import abc).
func (w *walker) submoduleImports(i int) {
	m := w.child(i, gram.fModuleName)
	if m < 0 || w.kind(m) != kDottedName {
		return
	}
	module := w.dotted(m)
	w.children(i, func(c int) bool {
		if w.n[c].field != gram.fName {
			return true
		}
		name, bound := c, c
		if w.kind(c) == kAliasedImport {
			name, bound = w.child(c, gram.fName), w.child(c, gram.fAlias)
		}
		if name < 0 || bound < 0 || w.kind(name) != kDottedName {
			return true
		}
		if w.a.allowed[module+"."+w.dotted(name)] {
			b := bound
			if w.kind(b) == kDottedName {
				b = w.firstChild(b)
			}
			if b >= 0 {
				w.modules[w.name(b)] = true
			}
		}
		return true
	})
}

// dotted returns a dotted name's normalised text.
func (w *walker) dotted(d int) string {
	var parts []string
	w.children(d, func(c int) bool {
		if w.kind(c) == kIdentifier {
			parts = append(parts, w.name(c))
		}
		return true
	})
	return strings.Join(parts, ".")
}

// moduleUse says whether an identifier naming a module is used as one: the
// object of an attribute access, or inside the import that binds it.
func (w *walker) moduleUse(i, p int, pk kind) bool {
	switch pk {
	case kAttribute:
		return w.n[i].field == gram.fObject
	case kDottedName, kAliasedImport:
		return w.inImport(p)
	}
	return false
}

// moduleAttribute refuses m.<name> where m is a module and name leads to a
// module that is not allowed (json.codecs, asyncio.events).
func (w *walker) moduleAttribute(i int) {
	obj := w.child(i, gram.fObject)
	at := w.child(i, gram.fAttribute)
	if obj < 0 || at < 0 || w.kind(obj) != kIdentifier {
		return
	}
	if name := w.name(at); moduleAttributes[name] && w.isModule(w.name(obj)) {
		w.reason("attribute:" + name)
	}
}

// stringLiteral returns the value of a plain string literal (with implicit
// concatenation): no f-string, no bytes, no escape it cannot decode.
func (w *walker) stringLiteral(i int) (string, bool) {
	switch w.kind(i) {
	case kParenthesized:
		c := w.namedChildren(i)
		if len(c) != 1 {
			return "", false
		}
		return w.stringLiteral(c[0])
	case kConcatenatedString:
		var b strings.Builder
		for _, c := range w.namedChildren(i) {
			if w.kind(c) != kString {
				return "", false
			}
			s, ok := w.stringLiteral(c)
			if !ok {
				return "", false
			}
			b.WriteString(s)
		}
		return b.String(), true
	case kString:
	default:
		return "", false
	}
	start, end := -1, -1
	ok := true
	w.children(i, func(c int) bool {
		switch w.kind(c) {
		case kStringStart:
			start = c
		case kStringEnd:
			end = c
		case kStringContent, kEscapeSequence, kLineContinuation, kComment:
		default: // interpolation and anything else
			ok = false
		}
		return true
	})
	if !ok || start < 0 || end < 0 {
		return "", false
	}
	prefix := strings.TrimRight(w.text(start), `"'`)
	raw := false
	for _, r := range strings.ToLower(prefix) {
		switch r {
		case 'r':
			raw = true
		case 'u':
		default: // f, b, t and anything new
			return "", false
		}
	}
	body := w.src[w.n[start].end:w.n[end].start]
	if raw {
		return body, true
	}
	return decodeEscapes(body)
}

// bytesOf views s as bytes without copying; the caller must not write.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
