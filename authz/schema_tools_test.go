package authz

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSchemaWithToolArguments(t *testing.T) {
	tools := []ToolInputSchema{
		{Name: "aws___read_documentation", InputSchema: map[string]any{"type": "object", "properties": map[string]any{
			"url": map[string]any{"type": "string"}, "max_length": map[string]any{"type": "integer"},
			"start_index": map[string]any{"type": "number"},
		}}},
		{Name: "aws___get_regional_availability", InputSchema: map[string]any{"type": "object", "properties": map[string]any{
			"region":    map[string]any{"type": "string"},
			"resources": map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
			"filters":   map[string]any{"type": "object", "properties": map[string]any{"service": map[string]any{"type": "string"}}},
			"url":       map[string]any{"type": "integer"},
			"x-header":  map[string]any{"type": "boolean"},
		}}},
		{Name: "aws___run_script", InputSchema: map[string]any{"type": "object", "properties": map[string]any{
			"code": map[string]any{"type": "string"},
		}}},
	}
	out, skipped, err := SchemaWithToolArguments(tools)
	if err != nil {
		t.Fatal(err)
	}
	want := "type ToolArguments = {\n  cli_command?: String,\n  code?: String,\n  filters?: {service?: String},\n  max_length?: Long,\n" +
		"  region?: String,\n  resources?: Set<String>,\n  \"x-header\"?: Bool,\n};"
	if !strings.Contains(string(out), want) {
		t.Errorf("generated ToolArguments:\n%s", toolArgumentsRE.Find(out))
	}
	wantSkipped := []string{
		"start_index (aws___read_documentation: no exact Cedar type)",
		"url (aws___get_regional_availability: Long, another tool: String)",
	}
	if !slices.Equal(skipped, wantSkipped) && !slices.Equal(skipped, []string{wantSkipped[0], "url (aws___read_documentation: String, another tool: Long)"}) {
		t.Errorf("skipped %q", skipped)
	}
	// Policies reading the declared arguments now type-check strictly; the
	// ones left out are still unknown.
	dir := writeFiles(t, map[string]string{"s.cedarschema": string(out),
		"ok.cedar":  `permit (principal, action == Action::"tools/call", resource) when { resource.arguments has region && resource.arguments.region == "eu-west-1" && resource.arguments has filters && resource.arguments.filters has service };`,
		"bad.cedar": `permit (principal, action == Action::"tools/call", resource) when { resource.arguments has url };`})
	if _, err := Check(Options{PolicyFiles: []string{filepath.Join(dir, "ok.cedar")}, SchemaFile: filepath.Join(dir, "s.cedarschema"), SchemaValidation: SchemaStrict}); err != nil {
		t.Errorf("declared arguments: %v", err)
	}
	if _, err := Check(Options{PolicyFiles: []string{filepath.Join(dir, "bad.cedar")}, SchemaFile: filepath.Join(dir, "s.cedarschema"), SchemaValidation: SchemaStrict}); err == nil ||
		!strings.Contains(err.Error(), "unknown attribute resource.arguments.url") {
		t.Errorf("left-out argument: %v", err)
	}
}

// FuzzSchemaWithToolArguments: whatever input schemas the upstream lists,
// the generated schema parses (names and types are checked, never
// pasted in raw).
func FuzzSchemaWithToolArguments(f *testing.F) {
	f.Add(`[{"name":"t","inputSchema":{"type":"object","properties":{"a":{"type":"string"},"b c":{"type":"array","items":{"type":"integer"}}}}}]`)
	f.Add(`[{"name":"t","inputSchema":{"properties":{"x\"y":{"type":"boolean"},"o":{"type":"object","properties":{"}":{"type":"string"}}}}}}]`)
	f.Add(`[{"name":"t","inputSchema":{"properties":{"cli_command":{"type":"integer"},"n":{"type":"number"}}}}]`)
	f.Add(`[{"name":"t","inputSchema":{"properties":{"then":{"type":"string"},"is":{"type":"object","properties":{"__cedar":{"type":"string"}}}}}}]`)
	f.Fuzz(func(t *testing.T, in string) {
		var tools []ToolInputSchema
		if json.Unmarshal([]byte(in), &tools) != nil {
			return
		}
		if _, _, err := SchemaWithToolArguments(tools); err != nil {
			t.Fatalf("generated schema does not parse: %v", err)
		}
	})
}
