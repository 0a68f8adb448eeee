package script

/*
#include <stdint.h>
#include <stdbool.h>
#include <stdlib.h>

// The layouts and functions below are tree-sitter's public C API (api.h of
// the tree-sitter runtime that github.com/tree-sitter/go-tree-sitter
// compiles and links). They are declared here rather than included because
// cgo cannot reach another module's headers; TestFlattenMatchesCursor checks
// this flattening against go-tree-sitter's own cursor walk node by node.
typedef struct { uint32_t context[4]; const void *id; const void *tree; } mg_ts_node;
typedef struct { const void *tree; const void *id; uint32_t context[3]; } mg_ts_cursor;

extern void ts_set_allocator(void *(*)(size_t), void *(*)(size_t, size_t), void *(*)(void *, size_t), void (*)(void *));
extern mg_ts_cursor ts_tree_cursor_new(mg_ts_node);
extern void ts_tree_cursor_delete(mg_ts_cursor *);
extern mg_ts_node ts_tree_cursor_current_node(const mg_ts_cursor *);
extern uint16_t ts_tree_cursor_current_field_id(const mg_ts_cursor *);
extern bool ts_tree_cursor_goto_first_child(mg_ts_cursor *);
extern bool ts_tree_cursor_goto_next_sibling(mg_ts_cursor *);
extern bool ts_tree_cursor_goto_parent(mg_ts_cursor *);
extern uint16_t ts_node_symbol(mg_ts_node);
extern uint32_t ts_node_start_byte(mg_ts_node);
extern uint32_t ts_node_end_byte(mg_ts_node);
extern bool ts_node_is_missing(mg_ts_node);

typedef struct {
	uint16_t sym;
	uint16_t field;
	uint32_t start;
	uint32_t end;
	uint32_t subend;
	uint32_t missing;
} mg_node;

// mg_use_libc points tree-sitter's allocator at libc. go-tree-sitter's
// default allocator is libc's too, but reached through a cgo callback into
// Go for every allocation, which doubles the cost of a parse.
static void mg_use_libc(void) { ts_set_allocator(malloc, calloc, realloc, free); }

// mg_flatten writes the tree under root in pre-order into out. subend is the
// index one past the node's last descendant. It returns the node count, -1
// when more than cap nodes exist, -2 when the tree is deeper than maxdepth.
static int mg_flatten(const mg_ts_node *root, mg_node *out, int cap, int32_t *stack, int maxdepth) {
	mg_ts_cursor c = ts_tree_cursor_new(*root);
	int n = 0, depth = 0;
	for (;;) {
		if (n >= cap) { ts_tree_cursor_delete(&c); return -1; }
		mg_ts_node x = ts_tree_cursor_current_node(&c);
		mg_node *o = &out[n];
		o->sym = ts_node_symbol(x);
		o->field = ts_tree_cursor_current_field_id(&c);
		o->start = ts_node_start_byte(x);
		o->end = ts_node_end_byte(x);
		o->missing = ts_node_is_missing(x) ? 1 : 0;
		o->subend = 0;
		n++;
		if (ts_tree_cursor_goto_first_child(&c)) {
			if (depth >= maxdepth) { ts_tree_cursor_delete(&c); return -2; }
			stack[depth++] = n - 1;
			continue;
		}
		out[n-1].subend = n;
		while (!ts_tree_cursor_goto_next_sibling(&c)) {
			if (depth == 0 || !ts_tree_cursor_goto_parent(&c)) { ts_tree_cursor_delete(&c); return n; }
			out[stack[--depth]].subend = n;
		}
	}
}
*/
import "C"

import (
	"runtime"
	"unsafe"

	ts "github.com/tree-sitter/go-tree-sitter"
	python "github.com/tree-sitter/tree-sitter-python/bindings/go"
)

func init() { C.mg_use_libc() }

// node is one syntax-tree node, copied out of tree-sitter in one cgo call so
// that the analysis runs in Go without a cgo call per node.
type node struct {
	sym     uint16
	field   uint16
	start   uint32
	end     uint32
	subend  uint32 // index one past the last descendant
	missing uint32 // non-zero for a node tree-sitter inserted to recover
}

// The Go and C views of a node must agree byte for byte.
var _ [unsafe.Sizeof(node{}) - unsafe.Sizeof(C.mg_node{})]struct{}
var _ [unsafe.Sizeof(C.mg_node{}) - unsafe.Sizeof(node{})]struct{}

// go-tree-sitter documents ts.Node as a C-compatible TSNode; mg_flatten
// reads it through that layout.
var _ [unsafe.Sizeof(ts.Node{}) - unsafe.Sizeof(C.mg_ts_node{})]struct{}
var _ [unsafe.Sizeof(C.mg_ts_node{}) - unsafe.Sizeof(ts.Node{})]struct{}

// flattenResult says why flattening stopped.
type flattenResult int

const (
	flatOK flattenResult = iota
	flatTooMany
	flatTooDeep
)

// flatten copies the tree into out (reused when large enough).
func flatten(tree *ts.Tree, out []node, maxNodes, maxDepth int) ([]node, flattenResult) {
	root := tree.RootNode()
	count := int(root.DescendantCount())
	if count < 1 {
		return out[:0], flatTooMany // cannot happen: a tree has a root
	}
	if count > maxNodes {
		return out[:0], flatTooMany
	}
	if cap(out) < count {
		out = make([]node, count)
	}
	out = out[:cap(out)]
	stack := make([]int32, maxDepth+1)
	n := C.mg_flatten((*C.mg_ts_node)(unsafe.Pointer(root)),
		(*C.mg_node)(unsafe.Pointer(&out[0])), C.int(min(len(out), maxNodes)),
		(*C.int32_t)(unsafe.Pointer(&stack[0])), C.int(maxDepth))
	runtime.KeepAlive(tree)
	switch n {
	case -1:
		return out[:0], flatTooMany
	case -2:
		return out[:0], flatTooDeep
	}
	return out[:int(n)], flatOK
}

// language is the Python grammar; it is immutable.
var language = ts.NewLanguage(python.Language())

// parserPool keeps parsers for reuse. A channel rather than a sync.Pool: a
// parser owns C memory, and sync.Pool drops entries without a chance to
// free them.
type parserPool chan *ts.Parser

func (p parserPool) get() (*ts.Parser, error) {
	select {
	case ps := <-p:
		return ps, nil
	default:
	}
	ps := ts.NewParser()
	if err := ps.SetLanguage(language); err != nil {
		ps.Close()
		return nil, err
	}
	return ps, nil
}

func (p parserPool) put(ps *ts.Parser) {
	select {
	case p <- ps:
	default:
		ps.Close()
	}
}

func (p parserPool) drain() {
	for {
		select {
		case ps := <-p:
			ps.Close()
		default:
			return
		}
	}
}

// parse parses src, which the caller has already bounded in size. The
// input is handed to tree-sitter in chunks of at most chunkSize bytes:
// go-tree-sitter copies every chunk it is given into C memory, so a chunk
// of "everything from here on" would cost quadratic time when the lexer
// moves backwards.
func parse(ps *ts.Parser, src []byte) *ts.Tree {
	const chunkSize = 16 << 10
	return ps.ParseWithOptions(func(i int, _ ts.Point) []byte {
		if i < 0 || i >= len(src) {
			return nil
		}
		return src[i:min(len(src), i+chunkSize)]
	}, nil, nil)
}
