package script

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"unicode/utf8"

	ts "github.com/tree-sitter/go-tree-sitter"
	"golang.org/x/text/unicode/norm"
)

// FuzzAnalyze checks that Analyze never panics, is deterministic, and never
// reports complete for code that names exec or eval or uses call_boto3 other
// than by calling it directly. The oracle walks the tree with
// go-tree-sitter's own cursor, independently of flatten, and also looks at
// the raw text: every whole-word exec, eval or call_boto3 in the input must
// be inside a string or a comment, or be allowed where it stands.
func FuzzAnalyze(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.py")
	for _, name := range files {
		if src, err := os.ReadFile(name); err == nil && len(src) <= 8<<10 {
			f.Add(string(src))
		}
	}
	for _, s := range []string{
		`await call_boto3(service_name="s3", operation_name="ListBuckets")`,
		`e = eval; await call_boto3(service_name="s3", operation_name="ListBuckets")`,
		`f"{call_boto3}"`,
		`x = [call_boto3][0]`,
		"# \\\ncall_boto3",
		`'''a''' "b" call_boto3`,
		"if x:\n\tcall_boto3 = 1\n",
	} {
		f.Add(s)
	}
	a, err := New(Limits{}) // the default timeout: a slow input ends in a second
	if err != nil {
		f.Fatal(err)
	}
	small, err := New(Limits{MaxBytes: 512, MaxDepth: 12, MaxNodes: 200})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, code string) {
		res := a.Analyze(code)
		again := a.Analyze(code)
		if slices.Contains(res.Reasons, "parse_timeout") || slices.Contains(again.Reasons, "parse_timeout") {
			return // the one limit that depends on the machine's load
		}
		if res.Complete != again.Complete || len(res.Calls) != len(again.Calls) || len(res.Reasons) != len(again.Reasons) {
			t.Fatalf("two analyses of one script differ: %+v vs %+v", res, again)
		}
		if res.Complete != (len(res.Reasons) == 0) {
			t.Fatalf("complete %v with reasons %v", res.Complete, res.Reasons)
		}
		_ = small.Analyze(code)
		if !res.Complete {
			return
		}
		if v := violation(t, code); v != "" {
			t.Fatalf("analysis complete but %s in %q", v, code)
		}
	})
}

var riskyWord = regexp.MustCompile(`\b(exec|eval|call_boto3)\b`)

// violation returns why code must not be complete, or "".
func violation(t *testing.T, code string) string {
	t.Helper()
	if !utf8.ValidString(code) {
		return "invalid UTF-8"
	}
	p := ts.NewParser()
	defer p.Close()
	if err := p.SetLanguage(language); err != nil {
		t.Fatal(err)
	}
	src := []byte(code)
	tree := p.Parse(src, nil)
	if tree == nil {
		return "no tree"
	}
	defer tree.Close()
	root := tree.RootNode()
	if root.HasError() {
		return "an error node"
	}
	// Every identifier, normalised as Python does.
	c := root.Walk()
	defer c.Close()
	for {
		n := c.Node()
		if n.Kind() == "identifier" {
			if v := identifierViolation(n, norm.NFKC.String(n.Utf8Text(src))); v != "" {
				return v
			}
		}
		if c.GotoFirstChild() {
			continue
		}
		for !c.GotoNextSibling() {
			if !c.GotoParent() {
				goto raw
			}
		}
	}
raw:
	// Every whole word in the raw text must sit in a string, a comment or an
	// identifier checked above.
	for _, m := range riskyWord.FindAllStringIndex(code, -1) {
		n := root.DescendantForByteRange(uint(m[0]), uint(m[1]))
		for n != nil && !n.IsNamed() {
			n = n.Parent()
		}
		if n == nil {
			return "an unplaced " + code[m[0]:m[1]]
		}
		switch n.Kind() {
		case "string_content", "comment", "string", "escape_sequence", "identifier":
		default:
			return code[m[0]:m[1]] + " inside a " + n.Kind()
		}
	}
	return ""
}

func identifierViolation(n *ts.Node, name string) string {
	parent := n.Parent()
	switch name {
	case "exec", "eval":
		if parent != nil && parent.Kind() == "attribute" && parent.ChildByFieldName("attribute") != nil &&
			parent.ChildByFieldName("attribute").Id() == n.Id() {
			return ""
		}
		if parent != nil && parent.Kind() == "keyword_argument" && parent.ChildByFieldName("name").Id() == n.Id() {
			return ""
		}
		return "the name " + name
	case target:
		if parent == nil || parent.Kind() != "call" || parent.ChildByFieldName("function").Id() != n.Id() {
			return "call_boto3 used as a value"
		}
		if gp := parent.Parent(); gp != nil && gp.Kind() == "decorator" {
			return "call_boto3 as a decorator"
		}
	}
	return ""
}
