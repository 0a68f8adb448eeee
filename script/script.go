package script

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// Call is one call_boto3(...) found in the code. A policy reads these to see
// which AWS operations a script performs, so every field is exactly what the
// script passes, never a guess.
type Call struct {
	// Service is the service_name literal, e.g. "s3".
	Service string `json:"service"`
	// Operation is the operation_name literal, PascalCase, e.g. "ListBuckets".
	Operation string `json:"operation"`
	// Region is the region_name literal; "" when absent or None, so the
	// caller applies the upstream's region.
	Region string `json:"region,omitempty"`
	// Params is the params argument when it is a literal dict, as JSON-like
	// values (string, int64, float64, bool, nil, []any, map[string]any);
	// nil when absent, None or not literal.
	Params map[string]any `json:"params,omitempty"`
	// ParamsLiteral is true when params is absent, None or fully literal.
	// Params never decide completeness; policies that look at them must
	// check this first.
	ParamsLiteral bool `json:"params_literal"`
}

// Analysis is what the analyzer learned about one script.
type Analysis struct {
	// Calls are the call_boto3 calls, deduplicated, in source order. A call
	// whose region_name is a loop variable over a literal list appears once
	// per region. When the analysis is incomplete, Calls still lists the
	// fully literal calls it found (for messages and audit), but the
	// script may make others.
	Calls []Call `json:"calls"`
	// Complete is true only when Calls covers every way the script could
	// reach call_boto3: a policy may then decide on Calls alone.
	Complete bool `json:"complete"`
	// Reasons says why the analysis is incomplete: short machine-readable
	// strings, sorted, without duplicates; empty when Complete.
	Reasons []string `json:"reasons"`
}

// Limits bound the work one analysis may do; beyond them the analysis is
// incomplete with the reason too_large, too_deep or too_many_nodes, never an
// error that lets a script through.
type Limits struct {
	// MaxBytes is the largest script parsed; bigger ones are never handed
	// to tree-sitter.
	MaxBytes int
	// MaxDepth is the deepest syntax tree (in tree-sitter nodes, the module
	// being depth 0) analysed.
	MaxDepth int
	// MaxNodes is the largest syntax tree (in tree-sitter nodes, named and
	// anonymous) analysed.
	MaxNodes int
	// ParseTimeout bounds the time tree-sitter may spend on one script.
	// Some inputs of a few kilobytes (long runs of line continuations,
	// some error recoveries) cost tree-sitter-python seconds of CPU; past
	// the timeout the analysis is incomplete with "parse_timeout". It is
	// checked every hundred parse actions, so the parse may overrun it by
	// a few tens of milliseconds.
	ParseTimeout time.Duration
	// AllowedImports are the modules a script may import (exact dotted
	// names). nil means DefaultAllowedImports; an empty non-nil slice
	// allows no import at all. Every module listed is trusted not to hand
	// out a way to call_boto3 through its attributes: see doc.go before
	// adding one.
	AllowedImports []string
}

// Defaults of Limits, chosen so that any realistic script fits with room to
// spare while a pathological one is refused in well under a millisecond of
// parsing per kilobyte.
const (
	DefaultMaxBytes = 64 << 10
	DefaultMaxDepth = 200
	DefaultMaxNodes = 100_000
	// DefaultParseTimeout is ten times what a 64 KiB script of plain
	// calls needs on a busy core, and far below Envoy's message_timeout.
	DefaultParseTimeout = time.Second
)

// DefaultAllowedImports is the default import allowlist: pure standard
// library modules with no file, process, network or introspection access
// and no attribute path to such modules other than those blockedAttributes
// stops. doc.go says why typing, string, operator, dataclasses, inspect and
// others are not on it.
var DefaultAllowedImports = []string{
	"asyncio", "base64", "collections", "datetime", "decimal", "fractions",
	"collections.abc", "functools", "itertools", "json", "math", "re", "statistics",
	"textwrap", "time",
}

// DefaultLimits returns the documented defaults.
func DefaultLimits() Limits {
	return Limits{
		MaxBytes:       DefaultMaxBytes,
		MaxDepth:       DefaultMaxDepth,
		MaxNodes:       DefaultMaxNodes,
		ParseTimeout:   DefaultParseTimeout,
		AllowedImports: slices.Clone(DefaultAllowedImports),
	}
}

// Analyzer analyses scripts. It is safe for concurrent use; it keeps a few
// tree-sitter parsers for reuse and frees them when it is garbage collected.
type Analyzer struct {
	lim     Limits
	allowed map[string]bool
	pool    parserPool
	bufs    sync.Pool // *buffers
}

// buffers are the per-analysis slices, reused across analyses.
type buffers struct {
	nodes  []node
	parent []int32
}

// New returns an Analyzer for the limits; zero fields take their defaults.
func New(l Limits) (*Analyzer, error) {
	if l.MaxBytes == 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxDepth == 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxNodes == 0 {
		l.MaxNodes = DefaultMaxNodes
	}
	if l.ParseTimeout == 0 {
		l.ParseTimeout = DefaultParseTimeout
	}
	if l.AllowedImports == nil {
		l.AllowedImports = slices.Clone(DefaultAllowedImports)
	}
	switch {
	case l.MaxBytes < 0:
		return nil, fmt.Errorf("script limits: max_bytes %d is negative", l.MaxBytes)
	case l.MaxBytes > 1<<30:
		return nil, fmt.Errorf("script limits: max_bytes %d is above 1 GiB", l.MaxBytes)
	case l.MaxDepth < 0:
		return nil, fmt.Errorf("script limits: max_depth %d is negative", l.MaxDepth)
	case l.MaxDepth > 100_000:
		return nil, fmt.Errorf("script limits: max_depth %d is above 100000", l.MaxDepth)
	case l.MaxNodes < 0:
		return nil, fmt.Errorf("script limits: max_nodes %d is negative", l.MaxNodes)
	case l.MaxNodes > 1<<26:
		return nil, fmt.Errorf("script limits: max_nodes %d is above %d", l.MaxNodes, 1<<26)
	case l.ParseTimeout < time.Millisecond:
		return nil, fmt.Errorf("script limits: parse_timeout %s is below 1ms", l.ParseTimeout)
	case l.ParseTimeout > time.Minute:
		return nil, fmt.Errorf("script limits: parse_timeout %s is above 1m", l.ParseTimeout)
	}
	allowed := make(map[string]bool, len(l.AllowedImports))
	for _, m := range l.AllowedImports {
		if err := checkAllowedImport(m); err != nil {
			return nil, fmt.Errorf("script limits: allowed import %q: %w", m, err)
		}
		allowed[m] = true
	}
	a := &Analyzer{lim: l, allowed: allowed, pool: make(parserPool, runtime.GOMAXPROCS(0))}
	ps, err := a.pool.get()
	if err != nil {
		return nil, fmt.Errorf("load the python grammar: %w", err)
	}
	a.pool.put(ps)
	runtime.AddCleanup(a, func(p parserPool) { p.drain() }, a.pool)
	return a, nil
}

// checkAllowedImport refuses modules that would open a path to call_boto3
// or to code the analyzer cannot see, whatever the configuration says.
func checkAllowedImport(m string) error {
	if m == "" {
		return fmt.Errorf("empty module name")
	}
	for _, part := range strings.Split(m, ".") {
		if !isASCIIIdentifier(part) {
			return fmt.Errorf("not a dotted module name")
		}
	}
	top, _, _ := strings.Cut(m, ".")
	if neverImport[top] {
		return fmt.Errorf("module %s can reach the interpreter's internals and is never allowed", top)
	}
	return nil
}

// Limits returns the limits in effect, defaults applied.
func (a *Analyzer) Limits() Limits {
	l := a.lim
	l.AllowedImports = slices.Clone(l.AllowedImports)
	return l
}

// Analyze analyses one script. It never fails: whatever goes wrong makes the
// analysis incomplete with a reason.
func (a *Analyzer) Analyze(code string) (res Analysis) {
	defer func() {
		if r := recover(); r != nil {
			res = incomplete("internal_error")
		}
	}()
	if len(code) > a.lim.MaxBytes {
		return incomplete("too_large")
	}
	if pre := precheck(code); len(pre) > 0 {
		return incomplete(pre...)
	}
	ps, err := a.pool.get()
	if err != nil {
		return incomplete("internal_error")
	}
	// The C-side timeout costs no Go callback per parse step, which the
	// replacement ParseOptions.ProgressCallback would.
	ps.SetTimeoutMicros(uint64(max(a.lim.ParseTimeout.Microseconds(), 1))) //nolint:staticcheck // see above
	tree := parse(ps, []byte(code))
	if tree == nil {
		// Only the timeout makes tree-sitter give up; reset so that the
		// next parse starts afresh instead of resuming this one.
		ps.Reset()
		a.pool.put(ps)
		return incomplete("parse_timeout")
	}
	a.pool.put(ps)
	buf, _ := a.bufs.Get().(*buffers)
	if buf == nil {
		buf = &buffers{}
	}
	defer a.bufs.Put(buf)
	// tree-sitter's own summary, in case an error hides below a node the
	// cursor does not visit.
	hasError := tree.RootNode().HasError()
	nodes, fr := flatten(tree, buf.nodes, a.lim.MaxNodes, a.lim.MaxDepth)
	tree.Close()
	buf.nodes = nodes[:0]
	switch fr {
	case flatTooMany:
		return incomplete("too_many_nodes")
	case flatTooDeep:
		return incomplete("too_deep")
	}
	if len(nodes) == 0 {
		return incomplete("parse_error")
	}
	w := walker{a: a, src: code, n: nodes, parent: parents(nodes, buf.parent)}
	if hasError {
		w.reason("parse_error")
	}
	buf.parent = w.parent[:0]
	return w.run()
}

func incomplete(reasons ...string) Analysis {
	r := slices.Clone(reasons)
	slices.Sort(r)
	return Analysis{Calls: []Call{}, Reasons: slices.Compact(r)}
}

// parents computes each node's parent index (-1 for the root).
func parents(n []node, out []int32) []int32 {
	if cap(out) < len(n) {
		out = make([]int32, len(n))
	}
	out = out[:len(n)]
	stack := make([]int32, 0, 64)
	for i := range n {
		for len(stack) > 0 && int(n[stack[len(stack)-1]].subend) <= i {
			stack = stack[:len(stack)-1]
		}
		if len(stack) == 0 {
			out[i] = -1
		} else {
			out[i] = stack[len(stack)-1]
		}
		stack = append(stack, int32(i))
	}
	return out
}
