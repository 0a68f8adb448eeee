package script

// resolveLoopVar resolves a region_name that is a loop variable over a
// literal list or tuple of string literals:
//
//	for region in ["us-east-1", "eu-west-1"]:
//	    await call_boto3(..., region_name=region)
//
// and the same in a comprehension. It resolves only when nothing else can
// change the variable between the loop and the call: the call is in the
// loop's body, in the same function (comprehensions in between are fine),
// the loop is not async, and the name has no other binding in the loop's
// scope nor any global, nonlocal or := anywhere in the script.
func (w *walker) resolveLoopVar(v int) ([]string, bool) {
	if w.kind(v) != kIdentifier {
		return nil, false
	}
	name := w.name(v)
	if w.declaredAnywhere(name) {
		return nil, false
	}
	child := v
	for p := int(w.parent[v]); p >= 0; child, p = p, int(w.parent[p]) {
		switch w.kind(p) {
		case kFunctionDefinition, kLambda, kClassDefinition:
			return nil, false
		case kForStatement:
			left := w.child(p, gram.fLeft)
			if left < 0 || w.kind(left) != kIdentifier || w.name(left) != name {
				if left >= 0 && w.binds(left, name) {
					return nil, false
				}
				continue
			}
			if w.n[child].field != gram.fBody {
				return nil, false
			}
			if r, seen := w.loops[p]; seen {
				return r, r != nil
			}
			values, ok := w.stringList(w.child(p, gram.fRight))
			if !ok || w.isAsync(p) || w.otherBindings(w.scopeOf(p), left, name) {
				values = nil
			}
			// One scan of the scope per loop, however many calls it holds.
			if w.loops == nil {
				w.loops = map[int][]string{}
			}
			w.loops[p] = values
			return values, values != nil
		case kListComprehension, kSetComprehension, kDictComprehension, kGeneratorExpression:
			var clause, binders int
			w.children(p, func(c int) bool {
				if w.kind(c) != kForInClause {
					return true
				}
				left := w.child(c, gram.fLeft)
				if left >= 0 && w.binds(left, name) {
					binders++
					if w.kind(left) == kIdentifier {
						clause = c
					}
				}
				return true
			})
			if binders == 0 {
				continue // the name comes from outside the comprehension
			}
			if binders > 1 || clause == 0 || w.n[child].field != gram.fBody || w.isAsync(clause) {
				return nil, false
			}
			return w.stringList(w.child(clause, gram.fRight))
		}
	}
	return nil, false
}

// isAsync says whether a for statement or clause is async.
func (w *walker) isAsync(i int) bool {
	async := false
	w.children(i, func(c int) bool {
		if w.kind(c) == kAsync {
			async = true
		}
		return !async
	})
	return async
}

// stringList returns the elements of a non-empty literal list or tuple of
// string literals (also the bare tuple of `for r in "a", "b":`).
func (w *walker) stringList(i int) ([]string, bool) {
	if i < 0 {
		return nil, false
	}
	for w.kind(i) == kParenthesized {
		c := w.namedChildren(i)
		if len(c) != 1 {
			return nil, false
		}
		i = c[0]
	}
	if k := w.kind(i); k != kList && k != kTuple && gram.names[w.n[i].sym] != "expression_list" {
		return nil, false
	}
	var out []string
	for _, c := range w.namedChildren(i) {
		s, ok := w.stringLiteral(c)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, len(out) > 0
}

// binds says whether name occurs anywhere under i.
func (w *walker) binds(i int, name string) bool {
	for j := i; j < int(w.n[i].subend); j++ {
		if w.kind(j) == kIdentifier && w.name(j) == name {
			return true
		}
	}
	return false
}

// declaredAnywhere says whether name is the target of a global, nonlocal
// or := anywhere in the script: those rebind it from other scopes.
func (w *walker) declaredAnywhere(name string) bool {
	if w.declared == nil {
		w.declared = map[string]bool{}
		for i := range w.n {
			switch w.kind(i) {
			case kGlobalStatement, kNonlocalStatement:
				w.children(i, func(c int) bool {
					if w.kind(c) == kIdentifier {
						w.declared[w.name(c)] = true
					}
					return true
				})
			case kNamedExpression:
				if c := w.child(i, gram.fName); c >= 0 {
					w.declared[w.name(c)] = true
				}
			}
		}
	}
	return w.declared[name]
}

// scopeOf returns the node whose body is the scope i runs in: the nearest
// enclosing function, lambda, class or module.
func (w *walker) scopeOf(i int) int {
	for p := int(w.parent[i]); p >= 0; p = int(w.parent[p]) {
		switch w.kind(p) {
		case kFunctionDefinition, kLambda, kClassDefinition:
			return p
		}
	}
	return 0
}

// otherBindings says whether name occurs in scope (not counting nested
// functions, lambdas, class bodies and comprehensions, which have scopes of
// their own) anywhere but in a position that certainly only reads it.
func (w *walker) otherBindings(scope, target int, name string) bool {
	start := scope + 1
	if w.kind(scope) == kFunctionDefinition || w.kind(scope) == kClassDefinition {
		// The scope's own parameters bind in it; its name binds outside.
		if nm := w.child(scope, gram.fName); nm >= 0 {
			start = int(w.n[nm].subend)
		}
	}
	end := int(w.n[scope].subend)
	for j := start; j < end; j++ {
		switch w.kind(j) {
		case kFunctionDefinition, kClassDefinition:
			// Its name binds here; parameters, body (and for a function
			// its defaults) are elsewhere or are checked through
			// declaredAnywhere.
			if nm := w.child(j, gram.fName); nm >= 0 && w.name(nm) == name {
				return true
			}
			j = int(w.n[j].subend) - 1
			continue
		case kLambda, kListComprehension, kSetComprehension, kDictComprehension, kGeneratorExpression:
			j = int(w.n[j].subend) - 1
			continue
		case kIdentifier:
		default:
			continue
		}
		if j == target || w.name(j) != name {
			continue
		}
		if !w.readOnly(j) {
			return true
		}
	}
	return false
}

// readOnly says whether identifier j sits where Python can only read it.
func (w *walker) readOnly(j int) bool {
	p := int(w.parent[j])
	if p < 0 {
		return false
	}
	f := w.n[j].field
	switch gram.names[w.n[p].sym] {
	case "call":
		return f == gram.fFunction
	case "argument_list", "binary_operator", "comparison_operator", "boolean_operator",
		"not_operator", "unary_operator", "return_statement", "await",
		"conditional_expression", "set", "expression_statement",
		"assert_statement", "yield", "raise_statement", "interpolation",
		"format_expression", "pair", "dictionary_splat":
		return true
	case "keyword_argument":
		return f == gram.fValue
	case "attribute":
		return f == gram.fObject
	case "subscript":
		return true
	case "if_statement", "elif_clause", "while_statement":
		return f == gram.fCondition
	}
	return false
}
