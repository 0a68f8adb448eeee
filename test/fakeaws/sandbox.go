package fakeaws

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	sitter "github.com/tree-sitter/go-tree-sitter"
	python "github.com/tree-sitter/tree-sitter-python/bindings/go"
)

// The run_script sandbox executes a small, documented subset of Python,
// parsed with tree-sitter-python. Like the AWS MCP Server's sandbox it
// reaches AWS only through
//
//	async def call_boto3(*, service_name, operation_name, region_name=None, params=None) -> dict
//
// The code runs as the body of an async function, so top-level await and
// return are allowed. The subset:
//
//   - statements: an expression, an assignment to one name, return, pass,
//     comments, and `for name in <list, tuple or dict>:` with break and
//     continue;
//   - expressions: string (plain, raw, implicit concatenation; no
//     f-strings or bytes), int, float, True, False, None, list, tuple, dict
//     with string keys, a name, subscripts x["k"] and x[0] (negative
//     indexes too), unary minus, `await call_boto3(...)` with keyword
//     arguments, and print(...), whose output the result reports.
//
// Anything else fails the script the way a Python exception would: the
// tool result has isError true and a traceback-like text naming the
// exception (SyntaxError, NameError, TypeError, KeyError, IndexError,
// botocore's ClientError and ParamValidationError, or NotImplementedError
// for Python this sandbox does not run).

// maxScriptSteps bounds the statements and calls one script may run.
const maxScriptSteps = 10000

// pyError is a Python exception raised by the script.
type pyError struct {
	typ  string // "NameError", "botocore.exceptions.ClientError"
	msg  string
	line int // 1-based; 0 when unknown
}

func (e *pyError) Error() string { return e.typ + ": " + e.msg }

// traceback renders the exception as the sandbox reports it.
func (e *pyError) traceback() string {
	var b strings.Builder
	b.WriteString("Script execution failed.\nTraceback (most recent call last):\n")
	if e.line > 0 {
		fmt.Fprintf(&b, "  File \"<script>\", line %d, in <module>\n", e.line)
	}
	b.WriteString(e.typ + ": " + e.msg)
	return b.String()
}

// boto3Call is one call_boto3 invocation, for the result's api_calls.
type boto3Call struct {
	Service   string `json:"service_name"`
	Operation string `json:"operation_name"`
	Region    string `json:"region_name"`
	Status    string `json:"status"` // "success" or "error"
	Error     string `json:"error,omitempty"`
}

// interp runs one script.
type interp struct {
	src    []byte
	vars   map[string]any
	out    strings.Builder
	calls  []boto3Call
	steps  int
	invoke func(service, operation, region string, params map[string]any) (map[string]any, *pyError)
}

// errReturn carries a return statement's value out of the statement loop.
type errReturn struct{ v any }

func (errReturn) Error() string { return "return" }

// run parses and executes code. It returns the script's return value (nil
// when it has none) or the exception that ended it.
func (in *interp) run(code string) (any, *pyError) {
	in.src = []byte(code)
	in.vars = map[string]any{}
	p := sitter.NewParser()
	defer p.Close()
	if err := p.SetLanguage(sitter.NewLanguage(python.Language())); err != nil {
		return nil, &pyError{typ: "SystemError", msg: err.Error()}
	}
	tree := p.Parse(in.src, nil)
	if tree == nil {
		return nil, &pyError{typ: "SyntaxError", msg: "invalid syntax (<script>)"}
	}
	defer tree.Close()
	root := tree.RootNode()
	if root.HasError() {
		return nil, &pyError{typ: "SyntaxError", msg: fmt.Sprintf("invalid syntax (<script>, line %d)", firstErrorLine(root)), line: firstErrorLine(root)}
	}
	for i := uint(0); i < root.NamedChildCount(); i++ {
		st := root.NamedChild(i)
		if err := in.stmt(st); err != nil {
			var ret errReturn
			if errors.As(err, &ret) {
				return ret.v, nil
			}
			if errors.Is(err, errBreak) || errors.Is(err, errContinue) {
				return nil, &pyError{typ: "SyntaxError", msg: fmt.Sprintf("'%s' outside loop", err), line: in.line(st)}
			}
			var pe *pyError
			if errors.As(err, &pe) {
				return nil, pe
			}
			return nil, &pyError{typ: "SystemError", msg: err.Error()}
		}
	}
	return nil, nil
}

func firstErrorLine(n *sitter.Node) int {
	if n.IsError() || n.IsMissing() {
		return int(n.StartPosition().Row) + 1
	}
	for i := uint(0); i < n.ChildCount(); i++ {
		c := n.Child(i)
		if c.HasError() || c.IsError() || c.IsMissing() {
			return firstErrorLine(c)
		}
	}
	return int(n.StartPosition().Row) + 1
}

func (in *interp) line(n *sitter.Node) int { return int(n.StartPosition().Row) + 1 }

func (in *interp) unsupported(n *sitter.Node, what string) *pyError {
	return &pyError{typ: "NotImplementedError", msg: "the fakeaws sandbox does not run " + what, line: in.line(n)}
}

func (in *interp) step(n *sitter.Node) error {
	in.steps++
	if in.steps > maxScriptSteps {
		return &pyError{typ: "RuntimeError", msg: "script exceeded the sandbox's step limit", line: in.line(n)}
	}
	return nil
}

func (in *interp) stmt(n *sitter.Node) error {
	if err := in.step(n); err != nil {
		return err
	}
	switch n.Kind() {
	case "comment", "pass_statement":
		return nil
	case "expression_statement":
		kids := namedChildren(n)
		if len(kids) != 1 {
			return in.unsupported(n, "a statement of several expressions")
		}
		e := kids[0]
		if e.Kind() == "assignment" {
			return in.assign(e)
		}
		_, err := in.expr(e)
		return err
	case "for_statement":
		return in.forLoop(n)
	case "break_statement":
		return errBreak
	case "continue_statement":
		return errContinue
	case "return_statement":
		kids := namedChildren(n)
		if len(kids) == 0 {
			return errReturn{nil}
		}
		if len(kids) > 1 {
			return in.unsupported(n, "return of several values")
		}
		v, err := in.expr(kids[0])
		if err != nil {
			return err
		}
		return errReturn{v}
	}
	return in.unsupported(n, strings.ReplaceAll(n.Kind(), "_", " "))
}

// Loop control travels as errors, like return.
var (
	errBreak    = errors.New("break")
	errContinue = errors.New("continue")
)

// forLoop runs `for name in <list, tuple or dict>:` with a block body; a
// dict iterates over its keys (in sorted order: the sandbox's dicts do not
// keep insertion order).
func (in *interp) forLoop(n *sitter.Node) error {
	if n.Child(0) != nil && n.Child(0).Kind() == "async" {
		return in.unsupported(n, "async for")
	}
	if n.ChildByFieldName("alternative") != nil {
		return in.unsupported(n, "for ... else")
	}
	left, right, body := n.ChildByFieldName("left"), n.ChildByFieldName("right"), n.ChildByFieldName("body")
	if left == nil || right == nil || body == nil || left.Kind() != "identifier" {
		return in.unsupported(n, "this for statement")
	}
	name := left.Utf8Text(in.src)
	if name == "call_boto3" || name == "print" {
		return in.unsupported(left, "rebinding "+name)
	}
	seq, err := in.expr(right)
	if err != nil {
		return err
	}
	var items []any
	switch v := seq.(type) {
	case []any:
		items = v
	case map[string]any:
		for _, k := range sortedKeys(v) {
			items = append(items, k)
		}
	default:
		return &pyError{typ: "TypeError", msg: fmt.Sprintf("'%s' object is not iterable", pyType(seq)), line: in.line(right)}
	}
	for _, it := range items {
		in.vars[name] = it
		for _, st := range namedChildren(body) {
			if err := in.stmt(st); err != nil {
				switch {
				case errors.Is(err, errBreak):
					return nil
				case errors.Is(err, errContinue):
				default:
					return err
				}
				break
			}
		}
	}
	return nil
}

func (in *interp) assign(n *sitter.Node) error {
	left, right := n.ChildByFieldName("left"), n.ChildByFieldName("right")
	if left == nil || right == nil || n.ChildByFieldName("type") != nil {
		return in.unsupported(n, "this assignment")
	}
	if left.Kind() != "identifier" {
		return in.unsupported(left, "assignment to "+left.Kind())
	}
	if right.Kind() == "assignment" {
		return in.unsupported(right, "chained assignment")
	}
	v, err := in.expr(right)
	if err != nil {
		return err
	}
	name := left.Utf8Text(in.src)
	if name == "call_boto3" || name == "print" {
		return in.unsupported(left, "rebinding "+name)
	}
	in.vars[name] = v
	return nil
}

func namedChildren(n *sitter.Node) []*sitter.Node {
	var out []*sitter.Node
	for i := uint(0); i < n.NamedChildCount(); i++ {
		c := n.NamedChild(i)
		if c.Kind() == "comment" {
			continue
		}
		out = append(out, c)
	}
	return out
}

func (in *interp) expr(n *sitter.Node) (any, error) {
	switch n.Kind() {
	case "string", "concatenated_string":
		return in.str(n)
	case "integer":
		t := strings.ReplaceAll(strings.ToLower(n.Utf8Text(in.src)), "_", "")
		v, err := strconv.ParseInt(t, 0, 64)
		if err != nil || strings.HasPrefix(t, "0") && len(t) > 1 && t[1] >= '0' && t[1] <= '9' {
			return nil, in.unsupported(n, "this integer literal")
		}
		return v, nil
	case "float":
		t := strings.ReplaceAll(n.Utf8Text(in.src), "_", "")
		v, err := strconv.ParseFloat(t, 64)
		if err != nil || math.IsInf(v, 0) {
			return nil, in.unsupported(n, "this float literal")
		}
		return v, nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "none":
		return nil, nil
	case "parenthesized_expression":
		kids := namedChildren(n)
		if len(kids) != 1 {
			return nil, in.unsupported(n, "this expression")
		}
		return in.expr(kids[0])
	case "unary_operator":
		if op := n.ChildByFieldName("operator"); op == nil || op.Kind() != "-" {
			return nil, in.unsupported(n, "this unary operator")
		}
		v, err := in.expr(n.ChildByFieldName("argument"))
		if err != nil {
			return nil, err
		}
		switch v := v.(type) {
		case int64:
			return -v, nil
		case float64:
			return -v, nil
		}
		return nil, &pyError{typ: "TypeError", msg: "bad operand type for unary -", line: in.line(n)}
	case "list", "tuple":
		out := []any{}
		for _, c := range namedChildren(n) {
			v, err := in.expr(c)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case "dictionary":
		out := map[string]any{}
		for _, c := range namedChildren(n) {
			if c.Kind() != "pair" {
				return nil, in.unsupported(c, "dictionary unpacking or comprehension")
			}
			k, err := in.expr(c.ChildByFieldName("key"))
			if err != nil {
				return nil, err
			}
			ks, ok := k.(string)
			if !ok {
				return nil, in.unsupported(c, "dictionary keys that are not strings")
			}
			v, err := in.expr(c.ChildByFieldName("value"))
			if err != nil {
				return nil, err
			}
			out[ks] = v
		}
		return out, nil
	case "identifier":
		name := n.Utf8Text(in.src)
		v, ok := in.vars[name]
		if !ok {
			if name == "call_boto3" || name == "print" {
				return nil, in.unsupported(n, name+" used as a value")
			}
			return nil, &pyError{typ: "NameError", msg: fmt.Sprintf("name %q is not defined", name), line: in.line(n)}
		}
		return v, nil
	case "subscript":
		return in.subscript(n)
	case "await":
		kids := namedChildren(n)
		if len(kids) != 1 || kids[0].Kind() != "call" || kids[0].ChildByFieldName("function").Utf8Text(in.src) != "call_boto3" {
			return nil, in.unsupported(n, "await of anything but call_boto3(...)")
		}
		return in.callBoto3(kids[0])
	case "call":
		fn := n.ChildByFieldName("function")
		switch {
		case fn.Kind() == "identifier" && fn.Utf8Text(in.src) == "print":
			return nil, in.print(n)
		case fn.Kind() == "identifier" && fn.Utf8Text(in.src) == "call_boto3":
			return nil, &pyError{typ: "TypeError", msg: "call_boto3 is a coroutine function: write await call_boto3(...)", line: in.line(n)}
		}
		return nil, in.unsupported(n, "calls of "+fn.Utf8Text(in.src))
	}
	return nil, in.unsupported(n, strings.ReplaceAll(n.Kind(), "_", " "))
}

func (in *interp) subscript(n *sitter.Node) (any, error) {
	base, err := in.expr(n.ChildByFieldName("value"))
	if err != nil {
		return nil, err
	}
	subs := n.ChildrenByFieldName("subscript", n.Walk())
	if len(subs) != 1 {
		return nil, in.unsupported(n, "this subscript")
	}
	if subs[0].Kind() == "slice" {
		return nil, in.unsupported(n, "slices")
	}
	k, err := in.expr(&subs[0])
	if err != nil {
		return nil, err
	}
	switch b := base.(type) {
	case map[string]any:
		ks, ok := k.(string)
		v, found := b[ks]
		if !ok || !found {
			return nil, &pyError{typ: "KeyError", msg: pyRepr(k), line: in.line(n)}
		}
		return v, nil
	case []any:
		i, ok := k.(int64)
		if !ok {
			return nil, &pyError{typ: "TypeError", msg: "list indices must be integers", line: in.line(n)}
		}
		if i < 0 {
			i += int64(len(b))
		}
		if i < 0 || i >= int64(len(b)) {
			return nil, &pyError{typ: "IndexError", msg: "list index out of range", line: in.line(n)}
		}
		return b[i], nil
	}
	return nil, &pyError{typ: "TypeError", msg: fmt.Sprintf("'%s' object is not subscriptable", pyType(base)), line: in.line(n)}
}

func (in *interp) print(n *sitter.Node) error {
	var parts []string
	for _, a := range namedChildren(n.ChildByFieldName("arguments")) {
		if a.Kind() == "keyword_argument" {
			return in.unsupported(a, "print keyword arguments")
		}
		v, err := in.expr(a)
		if err != nil {
			return err
		}
		if s, ok := v.(string); ok {
			parts = append(parts, s)
		} else {
			parts = append(parts, pyRepr(v))
		}
	}
	in.out.WriteString(strings.Join(parts, " ") + "\n")
	return nil
}

func (in *interp) callBoto3(n *sitter.Node) (any, error) {
	if err := in.step(n); err != nil {
		return nil, err
	}
	args := map[string]any{}
	for _, a := range namedChildren(n.ChildByFieldName("arguments")) {
		if a.Kind() != "keyword_argument" {
			if a.Kind() == "list_splat" || a.Kind() == "dictionary_splat" {
				return nil, in.unsupported(a, "argument unpacking")
			}
			return nil, &pyError{typ: "TypeError", msg: "call_boto3() takes 0 positional arguments but 1 was given", line: in.line(a)}
		}
		name := a.ChildByFieldName("name").Utf8Text(in.src)
		switch name {
		case "service_name", "operation_name", "region_name", "params":
		default:
			return nil, &pyError{typ: "TypeError", msg: fmt.Sprintf("call_boto3() got an unexpected keyword argument '%s'", name), line: in.line(a)}
		}
		if _, dup := args[name]; dup {
			return nil, &pyError{typ: "SyntaxError", msg: "keyword argument repeated: " + name, line: in.line(a)}
		}
		v, err := in.expr(a.ChildByFieldName("value"))
		if err != nil {
			return nil, err
		}
		args[name] = v
	}
	for _, req := range []string{"service_name", "operation_name"} {
		if _, ok := args[req]; !ok {
			return nil, &pyError{typ: "TypeError", msg: fmt.Sprintf("call_boto3() missing 1 required keyword-only argument: '%s'", req), line: in.line(n)}
		}
	}
	service, ok1 := args["service_name"].(string)
	operation, ok2 := args["operation_name"].(string)
	if !ok1 || !ok2 {
		return nil, &pyError{typ: "TypeError", msg: "service_name and operation_name must be str", line: in.line(n)}
	}
	region := ""
	if r, ok := args["region_name"]; ok && r != nil {
		rs, ok := r.(string)
		if !ok {
			return nil, &pyError{typ: "TypeError", msg: "region_name must be str or None", line: in.line(n)}
		}
		region = rs
	}
	params := map[string]any{}
	if p, ok := args["params"]; ok && p != nil {
		pm, ok := p.(map[string]any)
		if !ok {
			return nil, &pyError{typ: "TypeError", msg: "params must be a dict or None", line: in.line(n)}
		}
		params = pm
	}
	resp, perr := in.invoke(service, operation, region, params)
	call := boto3Call{Service: service, Operation: operation, Region: region, Status: "success"}
	if perr != nil {
		call.Status, call.Error = "error", perr.typ+": "+perr.msg
		in.calls = append(in.calls, call)
		perr.line = in.line(n)
		return nil, perr
	}
	in.calls = append(in.calls, call)
	return resp, nil
}

// str evaluates a string literal or an implicit concatenation of them.
func (in *interp) str(n *sitter.Node) (any, error) {
	if n.Kind() == "concatenated_string" {
		var b strings.Builder
		for _, c := range namedChildren(n) {
			v, err := in.str(c)
			if err != nil {
				return nil, err
			}
			b.WriteString(v.(string))
		}
		return b.String(), nil
	}
	var (
		b   strings.Builder
		raw bool
	)
	for i := uint(0); i < n.NamedChildCount(); i++ {
		c := n.NamedChild(i)
		switch c.Kind() {
		case "string_start":
			prefix := strings.ToLower(strings.TrimRight(c.Utf8Text(in.src), `'"`))
			if strings.ContainsAny(prefix, "fbt") {
				return nil, in.unsupported(n, "f-strings and bytes")
			}
			raw = strings.Contains(prefix, "r")
		case "string_content":
			t := c.Utf8Text(in.src)
			if raw {
				b.WriteString(t)
				continue
			}
			// Escape sequences are children of string_content; the text
			// between them is literal.
			pos := c.StartByte()
			for j := uint(0); j < c.NamedChildCount(); j++ {
				e := c.NamedChild(j)
				b.Write(in.src[pos:e.StartByte()])
				s, err := unescape(e.Utf8Text(in.src))
				if err != nil {
					return nil, in.unsupported(e, "the escape "+e.Utf8Text(in.src))
				}
				b.WriteString(s)
				pos = e.EndByte()
			}
			b.Write(in.src[pos:c.EndByte()])
		case "escape_sequence":
			if raw {
				b.WriteString(c.Utf8Text(in.src))
				continue
			}
			s, err := unescape(c.Utf8Text(in.src))
			if err != nil {
				return nil, in.unsupported(c, "the escape "+c.Utf8Text(in.src))
			}
			b.WriteString(s)
		case "string_end":
		case "interpolation":
			return nil, in.unsupported(c, "f-strings")
		default:
			return nil, in.unsupported(c, "this string")
		}
	}
	return b.String(), nil
}

func unescape(e string) (string, error) {
	switch e {
	case `\n`:
		return "\n", nil
	case `\t`:
		return "\t", nil
	case `\r`:
		return "\r", nil
	case `\\`:
		return `\`, nil
	case `\'`:
		return "'", nil
	case `\"`:
		return `"`, nil
	case "\\\n":
		return "", nil
	}
	if len(e) >= 4 && (e[1] == 'x' || e[1] == 'u' || e[1] == 'U') {
		r, err := strconv.ParseUint(e[2:], 16, 32)
		if err != nil || !utf8.ValidRune(rune(r)) {
			return "", errors.New("bad escape")
		}
		return string(rune(r)), nil
	}
	return "", errors.New("unsupported escape")
}

func pyType(v any) string {
	switch v.(type) {
	case nil:
		return "NoneType"
	case string:
		return "str"
	case int64:
		return "int"
	case float64:
		return "float"
	case bool:
		return "bool"
	case []any:
		return "list"
	case map[string]any:
		return "dict"
	}
	return "object"
}

// pyRepr renders a value roughly as Python's repr does.
func pyRepr(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case string:
		return "'" + strings.ReplaceAll(strings.ReplaceAll(v, `\`, `\\`), "'", `\'`) + "'"
	case bool:
		if v {
			return "True"
		}
		return "False"
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = pyRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := sortedKeys(v)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = pyRepr(k) + ": " + pyRepr(v[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}
