package config

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// rootPath names the document as a whole in a Problem, for problems that
// belong to no single key (YAML syntax errors, several documents).
const rootPath = "(root)"

// Problem is one thing wrong with a configuration, located by its YAML path
// so that an operator can find it without reading Go code.
type Problem struct {
	// Path is the YAML path of the value at fault, such as
	// "aws_sts_config.role_mappings[1].role_arn", or "(root)".
	Path string
	// Message says what is wrong and, where it helps, what is expected.
	Message string
}

// String formats p as "path: message".
func (p Problem) String() string {
	return p.Path + ": " + p.Message
}

// Problems is every problem found in a configuration. It is an error so that
// Load, Parse and Validate can return all problems at once: fixing a file
// one error per run is slow.
type Problems []Problem

// Error lists every problem, one per line, each as "path: message".
func (ps Problems) Error() string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// add records a problem at path.
func (ps *Problems) add(path, format string, args ...any) {
	*ps = append(*ps, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// err returns ps as an error, or nil when there are no problems, so that a
// nil Problems never hides in a non-nil error interface.
func (ps Problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// covers reports whether a problem is already recorded at path or at one of
// its ancestors. Validation skips such paths, so a value that failed to
// decode is not reported a second time as missing. A problem with a list
// element covers the list, which decoded incomplete. A problem with the
// whole document covers every path: nothing after it can be trusted.
func (ps Problems) covers(path string) bool {
	for _, p := range ps {
		if p.Path == rootPath || p.Path == path || strings.HasPrefix(p.Path, path+"[") || strings.HasPrefix(path, p.Path+".") || strings.HasPrefix(path, p.Path+"[") {
			return true
		}
	}
	return false
}

// join builds a child path. Keys that would make the path ambiguous (empty,
// or holding dots, brackets, quotes or spaces) are quoted.
func join(parent, key string) string {
	if key == "" || strings.ContainsFunc(key, func(r rune) bool {
		return r == '.' || r == '[' || r == ']' || r == '"' || r <= ' ' || r == 0x7f
	}) {
		key = strconv.Quote(key)
	}
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// index builds the path of a list element.
func index(parent string, i int) string {
	return fmt.Sprintf("%s[%d]", parent, i)
}

// sortByLine orders problems by the line of their path in the file, or of
// its nearest ancestor present there, so they read top to bottom. Problems
// about keys absent from the file come last, in schema order.
func (ps Problems) sortByLine(lines map[string]int) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return lineOf(a.Path, lines) - lineOf(b.Path, lines)
	})
}

func lineOf(path string, lines map[string]int) int {
	if path == rootPath {
		return 0
	}
	for path != "" {
		if l, ok := lines[path]; ok {
			return l
		}
		cut := max(strings.LastIndexByte(path, '.'), strings.LastIndexByte(path, '['))
		if cut < 0 {
			break
		}
		path = path[:cut]
	}
	return math.MaxInt32
}
