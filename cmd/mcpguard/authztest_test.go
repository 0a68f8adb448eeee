package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mcpguard/mcpguard/authz"
)

// TestAuthzTestExamples runs the shipped policy tests, so `make test` fails
// when an example policy stops deciding as documented, and requires every
// example policy to be exercised.
func TestAuthzTestExamples(t *testing.T) {
	code, out, errOut := runCLI("authz", "test", "--coverage", "../../examples/policies/tests")
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out, "FAIL") || strings.Contains(out, "not exercised") {
		t.Errorf("output:\n%s", out)
	}
	if !strings.Contains(out, " 0 failed") {
		t.Errorf("no summary:\n%s", out)
	}
}

func writeTestDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const testPolicy = `@id("read-docs")
permit (principal in Group::"staff", action == Action::"tools/call", resource == Tool::"aws___read_documentation");
@id("no-external")
forbid (principal, action, resource) unless { context has source_ip && context.source_ip.isInRange(ip("10.0.0.0/8")) };
@id("never-used")
permit (principal, action == Action::"prompts/get", resource);
`

func TestAuthzTestMismatches(t *testing.T) {
	dir := writeTestDir(t, map[string]string{
		"p.cedar": testPolicy,
		"t.yaml": `policies: [p.cedar]
tests:
  - name: staff inside
    claims: {sub: a, groups: [staff]}
    tool: aws___read_documentation
    source_ip: 10.1.2.3
    expect: allow
    policies: [read-docs]
  - name: wrong expectation
    claims: {sub: a, groups: [staff]}
    tool: aws___read_documentation
    source_ip: 192.0.2.1
    expect: allow
  - name: wrong policies
    claims: {sub: a, groups: [staff]}
    tool: aws___read_documentation
    source_ip: 192.0.2.1
    expect: deny
    policies: [read-docs]
`,
	})
	code, out, errOut := runCLI("authz", "test", "--coverage", dir)
	if code != exitDeny {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitDeny, out, errOut)
	}
	for _, want := range []string{
		"PASS    t.yaml  staff inside",
		"FAIL t.yaml: wrong expectation: decision deny, want allow",
		"FAIL t.yaml: wrong policies: determining policies [no-external], want [read-docs]",
		"3 tests, 1 passed, 2 failed",
		"coverage: 2 of 3 policies determined at least one decision",
		"not exercised: never-used (in the set of t.yaml)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestAuthzTestRefusesBadInput(t *testing.T) {
	broken, err := os.ReadFile("../../authz/testdata/schema/broken.cedar")
	if err != nil {
		t.Fatal(err)
	}
	ok := "policies: [p.cedar]\ntests:\n  - {claims: {sub: a}, method: ping, expect: deny}\n"
	tests := []struct {
		name  string
		files map[string]string
		args  []string
		want  string
	}{
		{"unknown key", map[string]string{"p.cedar": testPolicy,
			"t.yaml": "policies: [p.cedar]\ntests:\n  - claims: {sub: a}\n    method: ping\n    expected: allow\n"}, nil, "field expected not found"},
		{"two request kinds", map[string]string{"p.cedar": testPolicy,
			"t.yaml": "policies: [p.cedar]\ntests:\n  - {claims: {sub: a}, method: ping, tool: x, expect: deny}\n"}, nil,
			"give exactly one of tool, method, body or http_method"},
		{"bad expectation", map[string]string{"p.cedar": testPolicy,
			"t.yaml": "policies: [p.cedar]\ntests:\n  - {claims: {sub: a}, method: ping, expect: permit}\n"}, nil,
			`expect must be allow or deny, got "permit"`},
		{"no subject", map[string]string{"p.cedar": testPolicy,
			"t.yaml": "policies: [p.cedar]\ntests:\n  - {claims: {email: a@b}, method: ping, expect: deny}\n"}, nil,
			`claims need a non-empty string "sub"`},
		{"policy set fails schema validation", map[string]string{"broken.cedar": string(broken),
			"t.yaml": strings.Replace(ok, "p.cedar", "broken.cedar", 1)}, nil,
			"unknown attribute resource.argumnets (did you mean resource.arguments?)"},
		{"no test files", map[string]string{"p.cedar": testPolicy}, nil, "no *.yaml test files"},
		{"bad mode", map[string]string{"p.cedar": testPolicy, "t.yaml": ok}, []string{"--schema-validation", "lenient"}, "lenient"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTestDir(t, tt.files)
			args := append([]string{"authz", "test"}, tt.args...)
			code, out, errOut := runCLI(append(args, dir)...)
			if code != exitInvalid {
				t.Fatalf("exit %d, want %d\n%s%s", code, exitInvalid, out, errOut)
			}
			if !strings.Contains(errOut, tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, errOut)
			}
		})
	}
	// schema-validation warn loads the broken set (attribute errors only).
	dir := writeTestDir(t, map[string]string{"broken.cedar": string(broken), "t.yaml": strings.Replace(ok, "p.cedar", "broken.cedar", 1)})
	if code, out, errOut := runCLI("authz", "test", "--schema-validation", "warn", dir); code != exitOK {
		t.Errorf("warn mode: exit %d\n%s%s", code, out, errOut)
	}
}

func TestAuthzSchemaPrintsTheSchema(t *testing.T) {
	code, out, _ := runCLI("authz", "schema")
	if code != exitOK || out != string(authz.DefaultSchema()) {
		t.Errorf("exit %d, output differs from the embedded schema", code)
	}
}

// TestValidateBrokenPolicy: mcpguard validate rejects the documented broken
// policy with the documented message.
func TestValidateBrokenPolicy(t *testing.T) {
	broken, err := os.ReadFile("../../authz/testdata/schema/broken.cedar")
	if err != nil {
		t.Fatal(err)
	}
	dir := writeTestDir(t, map[string]string{"broken.cedar": string(broken)})
	conf := filepath.Join(dir, "mcpguard.yaml")
	if err := os.WriteFile(conf, []byte(`oidc_config:
  issuer: https://idp.example.com
  audience: aws-mcp
aws_sts_config:
  region: us-east-1
  role_arn: arn:aws:iam::123456789012:role/DefaultMCPRole
authz_config:
  policy_files: [broken.cedar]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI("validate", "--config", conf)
	if code != exitInvalid || !strings.Contains(errOut, `broken.cedar:16:27: policy "broken-singular-actions": unknown attribute context.aws.action (did you mean context.aws.actions?)`) {
		t.Errorf("exit %d\n%s", code, errOut)
	}
	if err := os.WriteFile(conf, []byte(strings.Replace(string(mustRead(t, conf)), "[broken.cedar]", "[broken.cedar]\n  schema_validation: warn", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCLI("validate", "--config", conf)
	if code != exitOK || !strings.Contains(errOut, "warning: broken.cedar:12:8") {
		t.Errorf("warn mode: exit %d\n%s", code, errOut)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAuthzCheckExplain: --explain names the closest permit and the
// condition that was false.
func TestAuthzCheckExplain(t *testing.T) {
	code, out, errOut := runCLI("authz", "check", "--explain", "--config", quickstart,
		"--claims", "testdata/alice.json", "--request", "testdata/ec2.json")
	if code != exitDeny {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	var got struct {
		Decision    string                  `json:"decision"`
		Explanation []authz.ItemExplanation `json:"explanation"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got.Decision != "deny" || len(got.Explanation) != 1 || len(got.Explanation[0].Closest) == 0 {
		t.Fatalf("output:\n%s", out)
	}
	found := false
	for _, p := range got.Explanation[0].Closest {
		if p.Policy == "s3-readers-use-s3" && slices.Equal(p.Unmet, []string{"`context.aws_cli.service == \"s3\"` is false"}) {
			found = true
		}
	}
	if !found {
		t.Errorf("s3-readers-use-s3 and its false condition missing:\n%s", out)
	}
	// Without --explain the output has no explanation.
	_, out, _ = runCLI("authz", "check", "--config", quickstart, "--claims", "testdata/alice.json", "--request", "testdata/ec2.json")
	if strings.Contains(out, "explanation") {
		t.Errorf("explanation without --explain:\n%s", out)
	}
}

func TestAuthzSchemaFromTools(t *testing.T) {
	code, out, errOut := runCLI("authz", "schema", "--from-tools", "testdata/tools-list.json")
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	for _, want := range []string{"  max_length?: Long,\n", "  search_phrase?: String,\n", "  url?: String,\n", "entity Tool {"} {
		if !strings.Contains(out, want) {
			t.Errorf("schema lacks %q", want)
		}
	}
	if !strings.Contains(errOut, "warning: argument left out: limit (aws___search_documentation: no exact Cedar type)") {
		t.Errorf("stderr: %s", errOut)
	}
	if code, _, errOut := runCLI("authz", "schema", "--from-tools", "testdata/alice.json"); code != exitInvalid || !strings.Contains(errOut, "no tools") {
		t.Errorf("not a tools list: exit %d %s", code, errOut)
	}
}

// FuzzPolicyTestFile: any test file is either refused or yields requests
// built by the real parsers, never a panic.
func FuzzPolicyTestFile(f *testing.F) {
	for _, p := range []string{"../../examples/policies/tests/examples.yaml", "../../examples/policies/tests/baseline.yaml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("policies: [a]\ntests:\n  - {claims: {sub: a}, body: '[]', expect: deny}\n")
	f.Add("policies: [a]\ntests:\n  - {claims: {sub: a, n: 1.5}, method: x, params: {a: [1, {b: null}]}, expect: allow}\n---\n")
	f.Fuzz(func(t *testing.T, in string) {
		tf, err := decodeTestFile([]byte(in))
		if err != nil {
			return
		}
		for i := range tf.Tests {
			req, id, err := tf.Tests[i].request("t.yaml", identityMapping{groupClaim: "groups"})
			if err == nil && (id == nil || id.Subject == "" || (req.HTTPMethod == "POST" && req.Body == nil)) {
				t.Fatalf("test %d built an incomplete request: %+v %+v", i, req, id)
			}
		}
	})
}

// TestAuthzTestThroughConfigProviders runs a test file whose claims go
// through a configuration's oidc_providers, as tokens do in the gateway:
// the claims' iss picks the provider, which names the principal
// User::"<provider>|<sub>" and prefixes its groups. The same sub from two
// providers is two principals.
func TestAuthzTestThroughConfigProviders(t *testing.T) {
	dir := writeTestDir(t, map[string]string{
		"mcpguard.yaml": `upstream:
  host: aws-mcp.us-east-1.api.aws
oidc_providers:
  - name: okta
    issuer: https://okta.example.com
    audience: aws-mcp
    jwks_url: https://okta.example.com/jwks
  - name: partners
    issuer: https://partners.example.com
    audience: aws-mcp
    jwks_url: https://partners.example.com/jwks
    group_prefix: "partners:"
aws_sts_config:
  region: us-east-1
  role_arn: arn:aws:iam::123456789012:role/Default
authz_config:
  policy_files: [p.cedar]
`,
		"p.cedar": `@id("okta-alice")
permit (principal == User::"okta|alice", action == Action::"tools/call", resource == Tool::"aws___read_documentation");
@id("partner-staff")
permit (principal in Group::"partners:staff", action == Action::"tools/call", resource == Tool::"aws___search_documentation");
`,
		"t.yaml": `policies: [../p.cedar]
config: ../mcpguard.yaml
tests:
  - name: alice of okta
    claims: {iss: "https://okta.example.com", sub: alice}
    tool: aws___read_documentation
    expect: allow
    policies: [okta-alice]
  - name: the partners' alice is someone else
    claims: {iss: "https://partners.example.com", sub: alice}
    tool: aws___read_documentation
    expect: deny
  - name: a partner's group is prefixed
    claims: {iss: "https://partners.example.com", sub: bob, groups: [staff]}
    tool: aws___search_documentation
    expect: allow
    policies: [partner-staff]
  - name: an okta group of the same name is not the partners'
    claims: {iss: "https://okta.example.com", sub: carol, groups: [staff]}
    tool: aws___search_documentation
    expect: deny
`,
	})
	// The runner reads every .yaml under its folder: the tests get their
	// own, beside the configuration.
	tests := filepath.Join(dir, "tests")
	if err := os.Mkdir(tests, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "t.yaml"), filepath.Join(tests, "t.yaml")); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI("authz", "test", tests)
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out, "FAIL") || !strings.Contains(out, " 0 failed") {
		t.Errorf("output:\n%s", out)
	}

	// Without the config the same claims are plain subs: alice of okta is
	// User::"alice" and no longer allowed.
	raw, err := os.ReadFile(filepath.Join(tests, "t.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tests, "t.yaml"), []byte(strings.Replace(string(raw), "config: ../mcpguard.yaml\n", "", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := runCLI("authz", "test", tests); code != exitDeny || !strings.Contains(out, "alice of okta") {
		t.Errorf("without the config: exit %d\n%s", code, out)
	}
}
