package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/authz"
	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/gateway"
	"github.com/mcpguard/mcpguard/mcp"
)

// policyTestFile is one YAML file of `mcpguard authz test`: a policy set
// and the requests it must decide as expected.
type policyTestFile struct {
	// Policies are policy files or globs, relative to the test file.
	Policies []string `yaml:"policies"`
	// Entities is an optional entities file, relative to the test file.
	Entities string `yaml:"entities"`
	// Schema optionally replaces the embedded Cedar schema.
	Schema string `yaml:"schema"`
	// ServerHost names Server::"<host>"; default aws-mcp.us-east-1.api.aws.
	ServerHost string `yaml:"server_host"`
	// GroupClaim is the claim holding the caller's groups; default the
	// config's (authz_config.group_claim), else groups.
	GroupClaim string `yaml:"group_claim"`
	// Config optionally names an mcpguard configuration, relative to the
	// test file, whose identity mapping the claims go through as in the
	// gateway: its group claims and, with oidc_providers, the provider
	// the claims' iss picks (principal, group prefixes and names).
	Config string       `yaml:"config"`
	Tests  []policyTest `yaml:"tests"`
}

// identityMapping is how a test's claims become the identity the
// authorizer sees: the group claim and, from a test file's config, the
// providers (authn.ProviderIdentity; none without a config).
type identityMapping struct {
	groupClaim string
	providers  []authn.Options
}

// policyTest is one request and its expected decision. The request is
// exactly one of: tool (+ arguments), a JSON-RPC method (+ params), a raw
// JSON-RPC body, or a bodyless http_method GET or DELETE.
type policyTest struct {
	Name   string         `yaml:"name"`
	Claims map[string]any `yaml:"claims"`

	Tool       string         `yaml:"tool"`
	Arguments  map[string]any `yaml:"arguments"`
	Method     string         `yaml:"method"`
	Params     map[string]any `yaml:"params"`
	Body       string         `yaml:"body"`
	HTTPMethod string         `yaml:"http_method"`

	SourceIP  string `yaml:"source_ip"`
	SessionID string `yaml:"session_id"`
	// Time is the request time (RFC 3339); default 2026-01-01T00:00:00Z,
	// so context.time does not depend on when the tests run.
	Time string `yaml:"time"`

	// Expect is allow or deny.
	Expect string `yaml:"expect"`
	// Policies, when given, must equal the determining policies: the
	// permits that allowed, or the forbids that denied ([] for a default
	// deny).
	Policies *[]string `yaml:"policies"`
}

const defaultTestTime = "2026-01-01T00:00:00Z"

// testOutcome is one row of the report.
type testOutcome struct {
	file, name, expect, got string
	policies                []string
	problem                 string // "" when the test passed
}

// runAuthzTest runs every *.yaml / *.yml policy test file under DIR.
func runAuthzTest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("authz test", flag.ContinueOnError)
	fset.SetOutput(stderr)
	coverage := fset.Bool("coverage", false, "list the policies that determined no test's decision")
	mode := fset.String("schema-validation", "strict", "type-check the policies against the schema: strict, warn or off")
	if code, ok := parseFlags(fset, args, stdout, stderr); !ok {
		return code
	}
	if fset.NArg() != 1 {
		fmt.Fprint(stderr, "usage: mcpguard authz test [--coverage] [--schema-validation strict|warn|off] DIR\n")
		return exitInvalid
	}
	schemaMode, err := authz.ParseSchemaMode(*mode)
	if err != nil {
		fmt.Fprintln(stderr, "mcpguard authz test:", err)
		return exitInvalid
	}
	dir := fset.Arg(0)
	files, err := testFiles(dir)
	if err != nil {
		fmt.Fprintln(stderr, "mcpguard authz test:", err)
		return exitInvalid
	}
	if len(files) == 0 {
		fmt.Fprintf(stderr, "mcpguard authz test: no *.yaml test files under %s\n", dir)
		return exitInvalid
	}
	var rows []testOutcome
	// all maps each policy id to the test files whose set holds it;
	// determined marks those that decided some test.
	all := map[string][]string{}
	determined := map[string]bool{}
	for _, f := range files {
		r, ids, err := runTestFile(ctx, f, schemaMode)
		if err != nil {
			fmt.Fprintln(stderr, "mcpguard authz test:", err)
			return exitInvalid
		}
		rel := relName(dir, f)
		for _, id := range ids {
			all[id] = append(all[id], rel)
		}
		for i := range r {
			r[i].file = rel
			for _, p := range r[i].policies {
				determined[p] = true
			}
		}
		rows = append(rows, r...)
	}
	failed := printTestTable(stdout, rows)
	fmt.Fprintf(stdout, "\n%d tests, %d passed, %d failed\n", len(rows), len(rows)-failed, failed)
	if *coverage {
		printCoverage(stdout, all, determined)
	}
	if failed > 0 {
		return exitDeny
	}
	return exitOK
}

// testFiles lists the YAML files under dir, sorted.
func testFiles(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read test folder: %w", err)
	}
	slices.Sort(out)
	return out, nil
}

func relName(dir, p string) string {
	if r, err := filepath.Rel(dir, p); err == nil {
		return r
	}
	return p
}

// runTestFile loads one file's policy set and decides its tests. It
// returns the outcomes and the ids of the policies in the set. An error is
// a file that cannot be run at all (bad YAML, a set that does not load).
func runTestFile(ctx context.Context, path string, mode authz.SchemaMode) ([]testOutcome, []string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	tf, err := decodeTestFile(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	base := filepath.Dir(path)
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, p)
	}
	opts := authz.Options{
		EntitiesFile:     rel(tf.Entities),
		SchemaFile:       rel(tf.Schema),
		SchemaValidation: mode,
		ServerHost:       tf.ServerHost,
		GroupClaim:       tf.GroupClaim,
	}
	for _, p := range tf.Policies {
		opts.PolicyFiles = append(opts.PolicyFiles, rel(p))
	}
	if opts.ServerHost == "" {
		opts.ServerHost = "aws-mcp.us-east-1.api.aws"
	}
	idm := identityMapping{groupClaim: "groups"}
	if tf.Config != "" {
		cfg, err := config.Load(rel(tf.Config))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: config: %w", path, err)
		}
		idm = identityMapping{groupClaim: cfg.OIDC.GroupClaim, providers: gateway.AuthnOptions(cfg)}
		if opts.GroupClaim == "" && cfg.Authz != nil {
			opts.GroupClaim = cfg.Authz.GroupClaim
		}
	}
	if opts.GroupClaim == "" {
		opts.GroupClaim = idm.groupClaim
	}
	if tf.GroupClaim != "" {
		idm.groupClaim = tf.GroupClaim
	}
	az, err := authz.New(ctx, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []testOutcome
	for i, tc := range tf.Tests {
		name := tc.Name
		if name == "" {
			name = fmt.Sprintf("test %d", i+1)
		}
		o := testOutcome{name: name, expect: tc.Expect}
		req, id, err := tc.request(path, idm)
		if err == nil && tc.Expect != "allow" && tc.Expect != "deny" {
			err = fmt.Errorf("expect must be allow or deny, got %q", tc.Expect)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %s: %w", path, name, err)
		}
		d, err := az.Authorize(ctx, id, req)
		switch {
		case err != nil:
			// A request mcpguard refuses before any policy (a malformed
			// body) is a denial, like the gateway's.
			o.got, o.policies = "deny", nil
			o.problem = "refused: " + err.Error()
			if tc.Expect == "deny" && tc.Policies == nil {
				o.problem = ""
			}
		default:
			o.got = "deny"
			if d.Allow {
				o.got = "allow"
			}
			o.policies = d.Policies
			if o.got != tc.Expect {
				o.problem = "decision " + o.got + ", want " + tc.Expect
			} else if tc.Policies != nil && !sameSet(*tc.Policies, d.Policies) {
				o.problem = fmt.Sprintf("determining policies %v, want %v", orNone(d.Policies), orNone(*tc.Policies))
			}
		}
		out = append(out, o)
	}
	return out, az.PolicyIDs(), nil
}

// decodeTestFile parses a policy test file strictly: unknown keys,
// duplicate keys and a second YAML document are errors.
func decodeTestFile(raw []byte) (*policyTestFile, error) {
	var tf policyTestFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&tf); err != nil {
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("a test file holds one YAML document")
	}
	if len(tf.Policies) == 0 {
		return nil, errors.New("policies: at least one policy file or glob is required")
	}
	if len(tf.Tests) == 0 {
		return nil, errors.New("tests: no tests")
	}
	return &tf, nil
}

// request builds the authz request and identity of one test through the
// same parsers the gateway uses.
func (tc *policyTest) request(path string, idm identityMapping) (authz.Request, *authn.Identity, error) {
	claims, err := json.Marshal(tc.Claims)
	if err != nil || tc.Claims == nil {
		return authz.Request{}, nil, errors.New("claims: a mapping with at least sub is required")
	}
	id, err := identityFromClaimsJSON(path, claims, idm.groupClaim)
	if err == nil {
		id, err = authn.ProviderIdentity(idm.providers, id)
	}
	if err != nil {
		return authz.Request{}, nil, err
	}
	ts := tc.Time
	if ts == "" {
		ts = defaultTestTime
	}
	when, err := time.Parse(time.RFC3339, ts)
	if err != nil {
		return authz.Request{}, nil, fmt.Errorf("time: %w", err)
	}
	req := authz.Request{HTTPMethod: "POST", SourceIP: tc.SourceIP, SessionID: tc.SessionID, RequestID: "authz-test", Time: when}
	kinds := 0
	for _, set := range []bool{tc.Tool != "", tc.Method != "", tc.Body != "", tc.HTTPMethod != ""} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		return authz.Request{}, nil, errors.New("give exactly one of tool, method, body or http_method")
	}
	if tc.Arguments != nil && tc.Tool == "" {
		return authz.Request{}, nil, errors.New("arguments need tool")
	}
	if tc.Params != nil && tc.Method == "" {
		return authz.Request{}, nil, errors.New("params need method")
	}
	body := []byte(tc.Body)
	switch {
	case tc.HTTPMethod != "":
		m := strings.ToUpper(tc.HTTPMethod)
		if m != "GET" && m != "DELETE" {
			return authz.Request{}, nil, fmt.Errorf("http_method must be GET or DELETE, got %q", tc.HTTPMethod)
		}
		req.HTTPMethod = m
		return req, id, nil
	case tc.Tool != "":
		args := tc.Arguments
		if args == nil {
			args = map[string]any{}
		}
		body, err = json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": mcp.MethodToolsCall,
			"params": map[string]any{"name": tc.Tool, "arguments": args}})
	case tc.Method != "":
		msg := map[string]any{"jsonrpc": "2.0", "method": tc.Method}
		if !strings.HasPrefix(tc.Method, "notifications/") {
			msg["id"] = 1
		}
		if tc.Params != nil {
			msg["params"] = tc.Params
		}
		body, err = json.Marshal(msg)
	}
	if err != nil {
		return authz.Request{}, nil, fmt.Errorf("build body: %w", err)
	}
	req.Body, err = mcp.Parse(body, mcp.Limits{MaxBytes: 1 << 20})
	if err != nil {
		return authz.Request{}, nil, fmt.Errorf("body: %w", err)
	}
	return req, id, nil
}

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(slices.Compact(x), slices.Compact(y))
}

func orNone(p []string) []string {
	if p == nil {
		return []string{}
	}
	return p
}

// printTestTable writes one row per test and returns how many failed.
func printTestTable(w io.Writer, rows []testOutcome) int {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RESULT\tFILE\tTEST\tEXPECT\tGOT\tPOLICIES")
	failed := 0
	for _, r := range rows {
		res := "PASS"
		if r.problem != "" {
			res = "FAIL"
			failed++
		}
		pol := strings.Join(r.policies, ",")
		if pol == "" {
			pol = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", res, r.file, r.name, r.expect, r.got, pol)
	}
	tw.Flush()
	for _, r := range rows {
		if r.problem != "" {
			fmt.Fprintf(w, "FAIL %s: %s: %s\n", r.file, r.name, r.problem)
		}
	}
	return failed
}

// printCoverage lists the policies that determined no test's decision.
func printCoverage(w io.Writer, all map[string][]string, determined map[string]bool) {
	ids := make([]string, 0, len(all))
	for id := range all {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var missing []string
	for _, id := range ids {
		if !determined[id] {
			missing = append(missing, id)
		}
	}
	fmt.Fprintf(w, "coverage: %d of %d policies determined at least one decision\n", len(ids)-len(missing), len(ids))
	for _, id := range missing {
		fmt.Fprintf(w, "  not exercised: %s (in the set of %s)\n", id, strings.Join(slices.Compact(all[id]), ", "))
	}
}
