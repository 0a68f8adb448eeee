package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpguard/mcpguard/authz"
	"github.com/mcpguard/mcpguard/test/fakeidp"
)

const quickstart = "../../examples/quickstart/config.yaml"

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestValidateReportsEveryProblem(t *testing.T) {
	files, err := filepath.Glob("../../config/testdata/invalid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid configs: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			golden, err := os.ReadFile(strings.TrimSuffix(f, ".yaml") + ".golden")
			if err != nil {
				t.Fatal(err)
			}
			code, _, stderr := runCLI("validate", "--config", f)
			if code != exitInvalid {
				t.Fatalf("exit %d, want %d", code, exitInvalid)
			}
			for _, line := range strings.Split(strings.TrimSpace(string(golden)), "\n") {
				if !strings.Contains(stderr, line) {
					t.Errorf("output lacks %q:\n%s", line, stderr)
				}
			}
		})
	}
}

func TestValidateAcceptsTheQuickstart(t *testing.T) {
	code, stdout, stderr := runCLI("validate", "--config", quickstart)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "configuration is valid") {
		t.Errorf("stdout = %q", stdout)
	}
	if strings.Contains(stderr, "warning") {
		t.Errorf("unexpected warnings: %s", stderr)
	}
}

func TestValidateWarnsWithoutInitialize(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.cedar"), []byte(`permit(principal, action == Action::"tools/call", resource);`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := "oidc_config: {issuer: https://idp.example.com, audience: aws-mcp}\n" +
		"aws_sts_config: {region: us-east-1, role_arn: 'arn:aws:iam::123456789012:role/R'}\n" +
		"authz_config: {policy_files: [p.cedar]}\n"
	if err := os.WriteFile(filepath.Join(dir, "c.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI("validate", "--config", filepath.Join(dir, "c.yaml"))
	if code != exitOK || !strings.Contains(stderr, "initialize") {
		t.Fatalf("exit %d, stderr %q: want a warning about initialize", code, stderr)
	}
}

func TestValidateWarnsOnPlaintextListener(t *testing.T) {
	dir := t.TempDir()
	cfg := "server: {grpc_listen: ':9002'}\n" +
		"oidc_config: {issuer: https://idp.example.com, audience: aws-mcp}\n" +
		"aws_sts_config: {region: us-east-1, role_arn: 'arn:aws:iam::123456789012:role/R'}\n"
	if err := os.WriteFile(filepath.Join(dir, "c.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI("validate", "--config", filepath.Join(dir, "c.yaml"))
	if code != exitOK || !strings.Contains(stderr, "warning: server.grpc_listen") {
		t.Fatalf("exit %d, stderr %q: want a warning about the plaintext listener", code, stderr)
	}
	// envoy_metadata on the same listener is refused outright.
	if err := os.WriteFile(filepath.Join(dir, "c.yaml"), []byte(strings.Replace(cfg, "audience: aws-mcp", "audience: aws-mcp, token_source: envoy_metadata", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI("validate", "--config", filepath.Join(dir, "c.yaml"))
	if code != exitInvalid || !strings.Contains(stderr, "oidc_config.token_source") {
		t.Fatalf("exit %d, stderr %q: want envoy_metadata refused", code, stderr)
	}
}

func TestValidateFlagsEmptyPolicyFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.cedar"), []byte(`permit(principal, action, resource);`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "guardrails.cedar"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := "oidc_config: {issuer: https://idp.example.com, audience: aws-mcp}\n" +
		"aws_sts_config: {region: us-east-1, role_arn: 'arn:aws:iam::123456789012:role/R'}\n" +
		"authz_config: {policy_files: ['*.cedar']}\n"
	if err := os.WriteFile(filepath.Join(dir, "c.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI("validate", "--config", filepath.Join(dir, "c.yaml"))
	if code != exitInvalid || !strings.Contains(stderr, "guardrails.cedar holds no policy") {
		t.Fatalf("exit %d, stderr %q: want the empty policy file refused", code, stderr)
	}
	if err := os.WriteFile(filepath.Join(dir, "c.yaml"), []byte(strings.Replace(cfg, "'*.cedar']", "'*.cedar'], allow_guardrail_removal: true", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI("validate", "--config", filepath.Join(dir, "c.yaml"))
	if code != exitOK || !strings.Contains(stderr, "warning: policy file guardrails.cedar holds no policy") {
		t.Fatalf("exit %d, stderr %q: want a warning when the operator accepts it", code, stderr)
	}
}

func TestValidatePolicyParseError(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.cedar"), []byte("permit(principal, action, resource)\nwhen { resource.name.startsWith(\"x\") };"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := "oidc_config: {issuer: https://idp.example.com, audience: aws-mcp}\n" +
		"aws_sts_config: {region: us-east-1, role_arn: 'arn:aws:iam::123456789012:role/R'}\n" +
		"authz_config: {policy_files: [p.cedar]}\n"
	if err := os.WriteFile(filepath.Join(dir, "c.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI("validate", "--config", filepath.Join(dir, "c.yaml"))
	if code != exitInvalid || !strings.Contains(stderr, "p.cedar:2") || !strings.Contains(stderr, `like "`) {
		t.Fatalf("exit %d, stderr %q: want file:line and the like hint", code, stderr)
	}
}

func TestAuthzCheck(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"alice may list s3", []string{"--claims", "testdata/alice.json", "--request", "testdata/s3-ls.json"}, exitOK, `"decision": "allow"`},
		{"alice may not use ec2", []string{"--claims", "testdata/alice.json", "--request", "testdata/ec2.json"}, exitDeny, `"decision": "deny"`},
		{"dana may ls", []string{"--claims", "testdata/dana.json", "--request", "testdata/s3-ls.json"}, exitOK, `data-analysts-s3-ls`},
		{"dana may not rm", []string{"--claims", "testdata/dana.json", "--request", "testdata/s3-rm.json"}, exitDeny, `guardrail-destructive-cli-operations`},
		{"chained commands", []string{"--claims", "testdata/dana.json", "--request", "testdata/chained.json"}, exitDeny, `baseline-forbid-unparsable-cli`},
		{"dana's script lists s3", []string{"--claims", "testdata/dana.json", "--request", "testdata/script-list.json"}, exitOK, `data-analysts-s3-list-script`},
		{"dana's script lists users", []string{"--claims", "testdata/dana.json", "--request", "testdata/script-iam.json"}, exitDeny,
			`"reason": "action \"tools/call\" on Tool::\"aws___run_script\" is not permitted: AWS action(s) \"iam:ListUsers\""`},
		{"legacy command gets context.aws too", []string{"--claims", "testdata/dana.json", "--request", "testdata/s3-ls.json"}, exitOK, `"read_only": true`},
		{"stream", []string{"--claims", "testdata/alice.json", "--method", "GET"}, exitOK, `mcp:stream`},
		{"terminate", []string{"--claims", "testdata/alice.json", "--method", "delete"}, exitOK, `mcp:terminate`},
		{"duplicate key", []string{"--claims", "testdata/alice.json", "--request", "testdata/duplicate-key.json"}, exitInvalid, ""},
		{"missing claims file", []string{"--claims", "testdata/nobody.json", "--request", "testdata/s3-ls.json"}, exitInvalid, ""},
		{"PUT", []string{"--claims", "testdata/alice.json", "--method", "PUT"}, exitInvalid, ""},
		{"POST without request", []string{"--claims", "testdata/alice.json"}, exitInvalid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(append([]string{"authz", "check", "--config", quickstart}, tt.args...)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout %s\nstderr %s", code, tt.code, stdout, stderr)
			}
			if tt.want != "" && !strings.Contains(stdout, tt.want) {
				t.Errorf("stdout lacks %q:\n%s", tt.want, stdout)
			}
			if tt.code != exitInvalid {
				var v map[string]any
				if err := json.Unmarshal([]byte(stdout), &v); err != nil {
					t.Errorf("stdout is not JSON: %v", err)
				}
			}
		})
	}
}

// TestAuthzCheckShowsContextAWS: authz check prints the context.aws it
// decided with, so an operator sees what the gateway read in a script.
func TestAuthzCheckShowsContextAWS(t *testing.T) {
	code, stdout, stderr := runCLI("authz", "check", "--config", quickstart, "--claims", "testdata/dana.json", "--request", "testdata/script-list.json")
	if code != exitOK {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
	var out struct {
		Items []struct {
			AWS *authz.AWSContext `json:"aws"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil || len(out.Items) != 1 || out.Items[0].AWS == nil {
		t.Fatalf("no context.aws in %s (%v)", stdout, err)
	}
	got := out.Items[0].AWS
	want := authz.AWSContext{
		Actions:  []string{"s3:ListBuckets", "s3:ListObjectsV2"},
		Services: []string{"s3"},
		Calls: []authz.AWSCall{{Service: "s3", Operation: "ListBuckets", Region: "us-east-1"},
			{Service: "s3", Operation: "ListObjectsV2", Region: "eu-west-1"}},
		Regions: []string{"eu-west-1", "us-east-1"}, Complete: true, Reasons: []string{}, Unknown: []string{}, ReadOnly: true,
	}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("context.aws %+v, want %+v", *got, want)
	}
}

func TestVersionAndUsage(t *testing.T) {
	if code, out, _ := runCLI("version"); code != 0 || !strings.HasPrefix(out, "mcpguard ") {
		t.Errorf("version: %d %q", code, out)
	}
	if code, _, _ := runCLI(); code != exitInvalid {
		t.Errorf("no args: exit %d", code)
	}
	if code, _, errb := runCLI("frobnicate"); code != exitInvalid || !strings.Contains(errb, "unknown command") {
		t.Errorf("unknown command: exit %d %q", code, errb)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// serveConfig is a minimal serve configuration; extra is appended.
func serveConfig(t *testing.T, idpURL, admin, extra string) string {
	t.Helper()
	cfg := fmt.Sprintf(`server: {grpc_listen: %q, admin_listen: %q, shutdown_grace: 2s, drain_delay: 0s}
oidc_config: {issuer: %q, audience: aws-mcp}
aws_sts_config: {region: us-east-1, role_arn: 'arn:aws:iam::123456789012:role/R', sts_endpoint: 'http://127.0.0.1:1'}
authz_config: {policy_files: [%q]}
`, freePort(t), admin, idpURL, filepath.Join(mustAbs(t, "../../examples/policies"), "*.cedar")) + extra
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startServe runs serve with the configuration at path until the returned
// stop is called, once it is ready (its signal handlers are installed by
// then). stop returns the exit code and stderr.
func startServe(t *testing.T, path, admin string) (stop func() (int, string)) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		done <- run(ctx, []string{"serve", "--config", path, "--log-level", "warn"}, &bytes.Buffer{}, &stderr)
	}()
	stop = func() (int, string) {
		cancel()
		select {
		case code := <-done:
			return code, stderr.String()
		case <-time.After(10 * time.Second):
			t.Fatal("serve did not stop")
			return 0, ""
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return stop
			}
		}
		if time.Now().After(deadline) {
			_, out := stop()
			t.Fatalf("not ready: %v\n%s", err, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeLifecycle starts serve, waits for readiness through the admin
// server, then cancels (as SIGTERM does) and expects exit 0.
func TestServeLifecycle(t *testing.T) {
	idp, err := fakeidp.New()
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Close()
	admin := freePort(t)
	stop := startServe(t, serveConfig(t, idp.URL(), admin, ""), admin)
	for _, p := range []string{"/healthz", "/metrics"} {
		resp, err := http.Get("http://" + admin + p)
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("%s: %v %v", p, err, resp)
		} else {
			resp.Body.Close()
		}
	}
	if code, out := stop(); code != exitOK {
		t.Fatalf("serve exited %d:\n%s", code, out)
	}
}

// TestServeReopensAuditOnSIGHUP rotates the audit log as logrotate does
// (rename, then SIGHUP): the new file's first record continues the chain,
// and verify with the checkpoints accepts the files together.
func TestServeReopensAuditOnSIGHUP(t *testing.T) {
	idp, err := fakeidp.New()
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Close()
	dir := t.TempDir()
	logPath, pubPath, key := checkpointedLog(t, dir, 0)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	keyPath := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	admin := freePort(t)
	cfg := serveConfig(t, idp.URL(), admin, fmt.Sprintf("audit_config: {output: %q, checkpoints: {key_file: %q}}\n", logPath, keyPath))
	stop := startServe(t, cfg, admin)
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		stop()
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		stop()
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, err := os.Stat(logPath); err != nil; _, err = os.Stat(logPath) {
		if time.Now().After(deadline) {
			_, out := stop()
			t.Fatalf("the audit log was not reopened after SIGHUP:\n%s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, out := stop(); code != exitOK {
		t.Fatalf("serve exited %d:\n%s", code, out)
	}
	code, out := runVerify(t, "--pubkey", pubPath, logPath+".1", logPath)
	if code != exitOK || strings.Contains(out, "continues") {
		t.Fatalf("verify of the rotated files: exit %d: %s", code, out)
	}
	if code, out := runVerify(t, "--pubkey", pubPath, logPath); code != exitOK || !strings.Contains(out, "continues the chain") {
		t.Fatalf("verify of the new file: exit %d: %s", code, out)
	}
}

func TestServeRefusesBadConfig(t *testing.T) {
	code, _, stderr := runCLI("serve", "--config", "../../config/testdata/invalid/alg-none.yaml")
	if code != exitInvalid || !strings.Contains(stderr, "allowed_algorithms") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestValidateWarnsWhenResourceDerived(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.cedar"), []byte(`permit(principal, action == Action::"initialize", resource);`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := "oidc_config: {issuer: https://idp.example.com, audience: aws-mcp}\n" +
		"aws_sts_config: {region: us-east-1, role_arn: 'arn:aws:iam::123456789012:role/R'}\n" +
		"authz_config: {policy_files: [p.cedar]}\n"
	if err := os.WriteFile(filepath.Join(dir, "c.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI("validate", "--config", filepath.Join(dir, "c.yaml"))
	if code != exitOK || !strings.Contains(stderr, "resource_metadata.resource is not set") ||
		!strings.Contains(stderr, "https://aws-mcp.us-east-1.api.aws/mcp") {
		t.Fatalf("exit %d, stderr %q: want a warning naming the derived resource", code, stderr)
	}
	cfg += "upstream: {path: /mcp}\n"
	cfg = strings.Replace(cfg, "audience: aws-mcp}", "audience: aws-mcp, resource_metadata: {resource: 'https://gw.example.com/mcp'}}", 1)
	if err := os.WriteFile(filepath.Join(dir, "c.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI("validate", "--config", filepath.Join(dir, "c.yaml")); code != exitOK || strings.Contains(stderr, "resource_metadata") {
		t.Fatalf("exit %d, stderr %q: want no warning with a configured resource", code, stderr)
	}
}
