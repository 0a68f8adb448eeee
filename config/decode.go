package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// maxNodes bounds how many YAML nodes decoding visits. Aliases make a small
// document describe an exponentially large tree; a real configuration has a
// few hundred nodes.
const maxNodes = 100_000

// maxProblems bounds how many decoding problems are reported; beyond that,
// more lines do not help anyone fix the file.
const maxProblems = 100

var durationType = reflect.TypeFor[time.Duration]()

// decoder walks a yaml.Node tree into a Go value by the `yaml` struct tags,
// recording a Problem for every unknown key and type mismatch instead of
// stopping at the first.
type decoder struct {
	problems Problems
	// lines maps the YAML path of every key and list element to its line,
	// so that problems can be listed in document order.
	lines   map[string]int
	visited int
	tooBig  bool
}

// decodeYAML decodes data over c, which holds the defaults. Keys absent from
// data, or null, leave c's values as they are.
func decodeYAML(data []byte, c *Config) (Problems, map[string]int) {
	d := decoder{lines: map[string]int{}}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, d.lines // an empty file: only defaults, validation reports what is missing
		}
		d.problems.add(rootPath, "invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		return d.problems, d.lines
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		d.problems.add(rootPath, "the file must hold exactly one YAML document")
		return d.problems, d.lines
	}
	// root is a DocumentNode whose single child is the top-level value.
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		d.value(root.Content[0], reflect.ValueOf(c).Elem(), "")
	}
	if len(d.problems) > maxProblems {
		d.problems = append(d.problems[:maxProblems], Problem{
			Path:    rootPath,
			Message: fmt.Sprintf("too many problems: %d more not shown", len(d.problems)-maxProblems),
		})
	}
	return d.problems, d.lines
}

// value decodes n into v. path is n's YAML path ("" for the document root).
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	n = d.resolve(n, path)
	if n == nil || isNull(n) {
		return
	}
	if v.Type() == durationType {
		d.duration(n, v, path)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.mapping(n, v, path)
	case reflect.Pointer:
		elem := reflect.New(v.Type().Elem())
		if v.Type().Elem().Kind() == reflect.Struct {
			// An explicit empty mapping still enables the section.
			d.value(n, elem.Elem(), path)
			v.Set(elem)
			return
		}
		before := len(d.problems)
		d.value(n, elem.Elem(), path)
		if len(d.problems) == before {
			v.Set(elem)
		}
	case reflect.String:
		if s, ok := d.str(n, path); ok {
			v.SetString(s)
		}
	case reflect.Int, reflect.Int64:
		d.integer(n, v, path)
	case reflect.Bool:
		d.boolean(n, v, path)
	case reflect.Float64:
		d.float(n, v, path)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.String {
			d.strings(n, v, path)
		} else {
			d.sequence(n, v, path)
		}
	default:
		// The schema uses no other kinds; reaching here is a programming
		// error, reported rather than panicking.
		d.problems.add(path, "unsupported field type %s", v.Type())
	}
}

// resolve follows aliases and charges the node budget. It returns nil once
// the budget is spent.
func (d *decoder) resolve(n *yaml.Node, path string) *yaml.Node {
	for hops := 0; n != nil && n.Kind == yaml.AliasNode; hops++ {
		if hops > 100 {
			d.problems.add(path, "alias chain too long")
			return nil
		}
		n = n.Alias
	}
	d.visited++
	if d.visited > maxNodes {
		if !d.tooBig {
			d.tooBig = true
			d.problems.add(rootPath, "document too large: more than %d YAML nodes after expanding aliases", maxNodes)
		}
		return nil
	}
	return n
}

// mapping decodes a YAML mapping into the struct v, reporting unknown and
// duplicate keys.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.problems.add(orRoot(path), "must be a mapping, got %s", describe(n))
		return
	}
	fields := fieldsByKey(v.Type())
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if d.resolve(k, path) == nil {
			return
		}
		if k.Kind != yaml.ScalarNode {
			d.problems.add(orRoot(path), "mapping keys must be strings, got %s", describe(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			d.problems.add(join(path, k.Value), "merge keys are not supported")
			continue
		}
		kp := join(path, k.Value)
		if _, ok := d.lines[kp]; !ok {
			d.lines[kp] = k.Line
		}
		if line, dup := seen[k.Value]; dup {
			d.problems.add(kp, "duplicate key (first defined at line %d)", line)
			continue
		}
		seen[k.Value] = k.Line
		idx, ok := fields[k.Value]
		if !ok {
			d.problems.add(kp, "unknown key")
			continue
		}
		d.value(val, v.Field(idx), kp)
	}
}

// fieldsByKey maps YAML keys to field indexes of the struct type t.
func fieldsByKey(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if key == "" || key == "-" || !f.IsExported() {
			continue
		}
		m[key] = i
	}
	return m
}

// sequence decodes a YAML list into a slice of structs.
func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.problems.add(path, "must be a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		ip := index(path, i)
		d.lines[ip] = item.Line
		d.value(item, s.Index(i), ip)
	}
	v.Set(s)
}

// strings decodes a list of strings. A single string stands for a list of
// one, so "audience: aws-mcp" and "audience: [aws-mcp]" mean the same.
func (d *decoder) strings(n *yaml.Node, v reflect.Value, path string) {
	switch n.Kind {
	case yaml.ScalarNode:
		if s, ok := d.str(n, path); ok {
			v.Set(reflect.ValueOf([]string{s}).Convert(v.Type()))
		}
	case yaml.SequenceNode:
		out := make([]string, 0, len(n.Content))
		before := len(d.problems)
		for i, item := range n.Content {
			ip := index(path, i)
			d.lines[ip] = item.Line
			item = d.resolve(item, ip)
			if item == nil {
				return
			}
			if isNull(item) {
				d.problems.add(ip, "must be a string, got null")
				continue
			}
			if s, ok := d.str(item, ip); ok {
				out = append(out, s)
			}
		}
		// Keep the good items so that validation does not also call a
		// partly bad list missing.
		if len(out) > 0 || len(d.problems) == before {
			v.Set(reflect.ValueOf(out).Convert(v.Type()))
		}
	default:
		d.problems.add(path, "must be a string or a list of strings, got %s", describe(n))
	}
}

// str reads a scalar as a string. Numbers and booleans are taken as written,
// so "claim: 2024" is the claim value "2024".
func (d *decoder) str(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.problems.add(path, "must be a string, got %s", describe(n))
		return "", false
	}
	switch n.ShortTag() {
	case "!!str", "!!int", "!!float", "!!bool":
		return n.Value, true
	}
	d.problems.add(path, "must be a string, got %s", describe(n))
	return "", false
}

// integer decodes an integer scalar into an int or int64 field.
func (d *decoder) integer(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		d.problems.add(path, "must be an integer, got %s", describe(n))
		return
	}
	var i int64
	if err := n.Decode(&i); err != nil {
		d.problems.add(path, "must be an integer that fits in 64 bits, got %q", n.Value)
		return
	}
	if v.Kind() == reflect.Int && (i > math.MaxInt || i < math.MinInt) {
		d.problems.add(path, "integer %d is out of range", i)
		return
	}
	v.SetInt(i)
}

// boolean decodes true or false; YAML 1.1 spellings such as "yes" are
// strings in yaml.v3 and are refused rather than guessed at.
func (d *decoder) boolean(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		d.problems.add(path, "must be true or false, got %s", describe(n))
		return
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		d.problems.add(path, "must be true or false, got %q", n.Value)
		return
	}
	v.SetBool(b)
}

// float decodes a number (integers are accepted).
func (d *decoder) float(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!float" && n.ShortTag() != "!!int") {
		d.problems.add(path, "must be a number, got %s", describe(n))
		return
	}
	var f float64
	if err := n.Decode(&f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		d.problems.add(path, "must be a finite number, got %q", n.Value)
		return
	}
	v.SetFloat(f)
}

// duration decodes a Go duration string such as "30s" or "1h30m".
func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.problems.add(path, "must be a duration such as \"30s\", got %s", describe(n))
		return
	}
	dur, err := time.ParseDuration(n.Value)
	if err != nil {
		d.problems.add(path, "invalid duration %q: want a Go duration such as \"30s\" or \"5m\"", n.Value)
		return
	}
	v.SetInt(int64(dur))
}

// isNull reports whether n is an explicit or implicit null ("key:", "~").
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names the YAML type of n for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return "a string"
		case "!!int":
			return "an integer"
		case "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!null":
			return "null"
		}
		return fmt.Sprintf("a value tagged %s", strconv.Quote(n.Tag))
	}
	return "an unsupported YAML node"
}

// orRoot names the root path for problems about the whole document.
func orRoot(path string) string {
	if path == "" {
		return rootPath
	}
	return path
}
