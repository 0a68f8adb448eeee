package authz

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// ToolInputSchema is one tool of a tools/list result: its name and the JSON
// Schema of its arguments (inputSchema), decoded as JSON.
type ToolInputSchema struct {
	Name        string         `json:"name"`
	InputSchema map[string]any `json:"inputSchema"`
}

// toolArgumentsRE finds the ToolArguments type in the embedded schema.
var toolArgumentsRE = regexp.MustCompile(`(?s)type ToolArguments = \{.*?\n\};`)

// cedarIdentRE is what the schema may write without quotes.
var cedarIdentRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// SchemaWithToolArguments returns the embedded schema with ToolArguments
// declaring every argument the tools' input schemas declare, so policies
// reading resource.arguments.<name> are type-checked too. All tools share
// the Tool entity type, so an argument is declared once for all of them
// (optional: a call may omit it). An argument whose JSON Schema type has no
// exact Cedar counterpart (number, which converts to Long, decimal or
// String by value; mixed or missing types), or that two tools type
// differently, is left out and listed in skipped.
func SchemaWithToolArguments(tools []ToolInputSchema) (schema []byte, skipped []string, err error) {
	decl := map[string]string{"cli_command": "String", "code": "String"}
	conflict := map[string]bool{}
	for _, t := range tools {
		props, _ := t.InputSchema["properties"].(map[string]any)
		for name, p := range props {
			typ, ok := cedarTypeOf(p, 0)
			if !quotable(name) {
				ok = false
			}
			if !ok {
				if !conflict[name] {
					skipped = append(skipped, fmt.Sprintf("%s (%s: no exact Cedar type)", name, t.Name))
				}
				conflict[name] = true
				continue
			}
			if prev, seen := decl[name]; seen && prev != typ {
				if name == "cli_command" || name == "code" {
					// mcpguard's own reading of these stays.
					skipped = append(skipped, fmt.Sprintf("%s (%s: %s, mcpguard reads it as %s)", name, t.Name, typ, prev))
					continue
				}
				skipped = append(skipped, fmt.Sprintf("%s (%s: %s, another tool: %s)", name, t.Name, typ, prev))
				conflict[name] = true
				continue
			}
			decl[name] = typ
		}
	}
	names := make([]string, 0, len(decl))
	for n := range decl {
		if !conflict[n] || n == "cli_command" || n == "code" {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	slices.Sort(skipped)
	var b strings.Builder
	b.WriteString("type ToolArguments = {\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %s?: %s,\n", attrName(n), decl[n])
	}
	b.WriteString("};")
	out := toolArgumentsRE.ReplaceAllLiteral(embeddedSchema, []byte(b.String()))
	if _, err := parseSchema("generated schema", out); err != nil {
		return nil, nil, fmt.Errorf("generate schema: %w", err)
	}
	return out, skipped, nil
}

// cedarTypeOf maps a JSON Schema to the Cedar type mcpguard converts such
// a value to, when that is certain.
func cedarTypeOf(s any, depth int) (string, bool) {
	m, ok := s.(map[string]any)
	if !ok || depth > 8 {
		return "", false
	}
	switch m["type"] {
	case "string":
		return "String", true
	case "integer":
		return "Long", true
	case "boolean":
		return "Bool", true
	case "array":
		el, ok := cedarTypeOf(m["items"], depth+1)
		if !ok {
			return "", false
		}
		return "Set<" + el + ">", true
	case "object":
		props, _ := m["properties"].(map[string]any)
		if len(props) == 0 {
			return "", false
		}
		names := make([]string, 0, len(props))
		for n := range props {
			if !quotable(n) {
				return "", false
			}
			names = append(names, n)
		}
		slices.Sort(names)
		var parts []string
		for _, n := range names {
			t, ok := cedarTypeOf(props[n], depth+1)
			if !ok {
				// Leave out a record whose members cannot all be typed
				// rather than guess.
				return "", false
			}
			parts = append(parts, attrName(n)+"?: "+t)
		}
		return "{" + strings.Join(parts, ", ") + "}", true
	}
	return "", false
}

// quotable reports whether n can be written in the schema: an identifier,
// or printable ASCII without quotes and backslashes.
func quotable(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// cedarKeywords cannot be written as bare attribute names.
var cedarKeywords = map[string]bool{
	"true": true, "false": true, "if": true, "then": true, "else": true,
	"in": true, "is": true, "like": true, "has": true,
}

// attrName quotes a name that is not a Cedar identifier or is a keyword.
func attrName(n string) string {
	if cedarIdentRE.MatchString(n) && !cedarKeywords[n] && !strings.HasPrefix(n, "__cedar") {
		return n
	}
	return strconv.Quote(n)
}
