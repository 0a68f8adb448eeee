package clients

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mcpguard/mcpguard/test/fakeaws"
	"github.com/mcpguard/mcpguard/test/stack"
)

// installMu serializes npm ci between the tests of this package.
var installMu sync.Mutex

// nodeDir returns test/tsclient with its pinned packages installed, or
// skips the test where node or npm is absent.
func nodeDir(t *testing.T) (node, dir string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the client-compatibility suite needs Node.js")
	}
	dir, err = filepath.Abs("../tsclient")
	if err != nil {
		t.Fatal(err)
	}
	installMu.Lock()
	defer installMu.Unlock()
	for _, pkg := range []string{"sdk", "inspector-cli"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "@modelcontextprotocol", pkg, "package.json")); err == nil {
			continue
		}
		npm, err := exec.LookPath("npm")
		if err != nil {
			t.Skip("npm is not installed: cannot install the pinned clients of test/tsclient")
		}
		cmd := exec.CommandContext(t.Context(), npm, "ci", "--no-audit", "--no-fund", "--prefer-offline")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
		}
		break
	}
	return node, dir
}

// startQuickstart runs the quickstart stack on free ports; with metadata
// the protected resource metadata stays on, so OAuth clients can log in.
func startQuickstart(t *testing.T, metadata bool) *stack.Stack {
	t.Helper()
	s, err := stack.Start(t.Context(), stack.Options{
		ConfigPath: "../../examples/quickstart/config.yaml", Ephemeral: true, ResourceMetadata: metadata,
		AuditWriter: &stack.Buffer{},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// The calls the tests make as Alice: an S3 list, which she may make, and
// an EC2 describe, which she may not, as aws___run_script code and as
// legacy aws___call_aws commands.
const (
	s3Script  = "return await call_boto3(service_name='s3', operation_name='ListBuckets')"
	ec2Script = "return await call_boto3(service_name='ec2', operation_name='DescribeInstances')"
	s3Cmd     = "aws s3 ls"
	ec2Cmd    = "aws ec2 describe-instances"
)

// aliceCalls are the node clients' TOOL=TEXT arguments for Alice's calls:
// through each AWS tool, the S3 list and then the EC2 describe.
var aliceCalls = []string{
	fakeaws.ToolRunScript + "=" + s3Script, fakeaws.ToolRunScript + "=" + ec2Script,
	fakeaws.ToolCallAWS + "=" + s3Cmd, fakeaws.ToolCallAWS + "=" + ec2Cmd,
}

// callReport is what the node clients report of one tool call.
type callReport struct {
	Command string `json:"command"`
	IsError bool   `json:"isError"`
	Text    string `json:"text"`
	Thrown  string `json:"thrown"`
}

// checkAliceCalls checks the reports of aliceCalls: each S3 list came back
// from AWS and reached it, each EC2 describe was refused with an error
// naming the refused AWS action and never reached AWS.
func checkAliceCalls(t *testing.T, s *stack.Stack, calls []callReport) {
	t.Helper()
	if len(calls) < len(aliceCalls) {
		t.Fatalf("calls = %+v, want %d", calls, len(aliceCalls))
	}
	sent := forwarded(s)
	for i, c := range calls[:len(aliceCalls)] {
		tool, text, _ := strings.Cut(aliceCalls[i], "=")
		if i%2 == 0 {
			if !listedBuckets(c) || !sent[text] {
				t.Errorf("%s allowed call = %+v, reached AWS %v", tool, c, sent[text])
			}
			continue
		}
		if !strings.Contains(c.Thrown, "not permitted") || !strings.Contains(c.Thrown, "ec2:DescribeInstances") || sent[text] {
			t.Errorf("%s denied call = %+v, reached AWS %v; want an error naming the refused AWS action", tool, c, sent[text])
		}
	}
}

// listedBuckets reports whether c came back from AWS with Alice's buckets.
func listedBuckets(c callReport) bool {
	return c.Thrown == "" && !c.IsError && strings.Contains(c.Text, "mcpguard-demo-reports")
}

// forwarded lists what reached the fake AWS in the tools/call requests it
// accepted: the code of each aws___run_script call and the command of
// each aws___call_aws call.
func forwarded(s *stack.Stack) map[string]bool {
	out := map[string]bool{}
	for _, r := range s.AWS.Requests() {
		var msg struct {
			Method string `json:"method"`
			Params struct {
				Arguments struct {
					CLI  string `json:"cli_command"`
					Code string `json:"code"`
				} `json:"arguments"`
			} `json:"params"`
		}
		if json.Unmarshal(r.Body, &msg) != nil || msg.Method != "tools/call" {
			continue
		}
		for _, text := range []string{msg.Params.Arguments.Code, msg.Params.Arguments.CLI} {
			if text != "" {
				out[text] = true
			}
		}
	}
	return out
}

// jsonLines sends each JSON line r prints to the returned channel, closing
// it at EOF.
func jsonLines(r io.Reader) <-chan map[string]json.RawMessage {
	ch := make(chan map[string]json.RawMessage, 8)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for sc.Scan() {
			var m map[string]json.RawMessage
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				ch <- m
			}
		}
	}()
	return ch
}

// artifactsDir is where screenshots are kept after the test: the
// MCPGUARD_ARTIFACTS directory, else bin/artifacts of the repository.
func artifactsDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("MCPGUARD_ARTIFACTS"); d != "" {
		return d
	}
	d, err := filepath.Abs("../../bin/artifacts")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// keepArtifacts copies the files of src into the artifacts directory
// under name, logging where they are.
func keepArtifacts(t *testing.T, src, name string) {
	t.Helper()
	dst := filepath.Join(artifactsDir(t), name)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Logf("keep artifacts: %v", err)
		return
	}
	entries, _ := os.ReadDir(src)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err == nil {
			err = os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644)
		}
		if err != nil {
			t.Logf("keep artifact %s: %v", e.Name(), err)
		}
	}
	t.Logf("screenshots kept in %s", dst)
}
