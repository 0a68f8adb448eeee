package main

import (
	"bytes"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mcpguard/mcpguard/test/fakeaws"
	"github.com/mcpguard/mcpguard/test/stack"
)

// volatile are the parts of the quickstart's output that differ from run
// to run by design: loopback ports and the access keys STS issues.
var volatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`127\.0\.0\.1:[0-9]+`), "127.0.0.1:PORT"},
	{regexp.MustCompile(`\bASIA[A-Z0-9]{16}\b`), "ASIA…"},
}

// normalize removes what varies by design and the trailing blanks the
// tab writer leaves.
func normalize(s string) string {
	for _, v := range volatile {
		s = v.re.ReplaceAllString(s, v.with)
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

// startScenario starts the stack run starts for a scenario, on free ports,
// so that a test can hold the scenario's tables against what the fakes
// recorded.
func startScenario(t *testing.T, o stack.Options) *stack.Stack {
	t.Helper()
	o.Ephemeral, o.AuditWriter = true, &stack.Buffer{}
	s, err := stack.Start(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// wantScriptRuns checks that AWS ran exactly the scripts want, in order,
// each without an error, as the role and for the session given, making the
// calls given: the allowed scripts reached AWS signed for their user, and
// no denied one reached it.
func wantScriptRuns(t *testing.T, s *stack.Stack, want []fakeaws.ScriptRun) {
	t.Helper()
	got := s.AWS.ScriptRuns()
	if len(got) != len(want) {
		t.Fatalf("AWS ran %d scripts, want %d:\n%+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Code != w.Code || g.RoleARN != w.RoleARN || g.SessionName != w.SessionName || g.Error != "" || !slices.Equal(g.Calls, w.Calls) {
			t.Errorf("script run %d = %+v, want %+v", i, g, w)
		}
	}
	if rej := s.AWS.Rejections(); len(rej) != 0 {
		t.Errorf("the fake AWS rejected %d requests: %+v", len(rej), rej)
	}
}

// readmeTables is the quickstart output the README shows: its first code
// block after "## Quickstart".
func readmeTables(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(raw), "## Quickstart")
	if !ok {
		t.Fatal("README has no Quickstart section")
	}
	_, block, ok := strings.Cut(after, "```\n")
	if !ok {
		t.Fatal("README's Quickstart has no code block")
	}
	block, _, _ = strings.Cut(block, "```")
	return strings.Split(strings.TrimRight(block, "\n"), "\n")
}

// TestQuickstartNeverVaries runs the quickstart several times (set
// QUICKSTART_RUNS for more): every run prints the same output, volatile
// ports and keys aside, including the whole audit trail, and that output
// holds the README's tables line for line, in order.
func TestQuickstartNeverVaries(t *testing.T) {
	runs := 3
	if n, err := strconv.Atoi(os.Getenv("QUICKSTART_RUNS")); err == nil && n > 0 {
		runs = n
	}
	want := readmeTables(t)
	var first string
	for i := range runs {
		var out bytes.Buffer
		if err := run(t.Context(), []string{"--config", "config.yaml"}, &out); err != nil {
			t.Fatalf("run %d: %v\n%s", i+1, err, out.String())
		}
		got := normalize(out.String())
		if i == 0 {
			first = got
			rest := got
			for _, line := range want {
				j := strings.Index(rest, line+"\n")
				if j < 0 {
					t.Fatalf("the output lacks the README's line %q (in order):\n%s", line, got)
				}
				rest = rest[j+len(line):]
			}
			if !strings.Contains(got, "mcp_session_terminate") {
				t.Fatalf("the audit trail lacks the last request of the run:\n%s", got)
			}
			continue
		}
		if got != first {
			t.Fatalf("run %d differs from run 1:\n--- run 1\n%s\n--- run %d\n%s", i+1, first, i+1, got)
		}
	}
}

// TestScenarioFlags runs the quickstart with each scenario's flag: run
// picks that scenario and it runs to its end.
func TestScenarioFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string // the scenario's last line, in part
	}{
		{[]string{"--config", "config.yaml", "--identity-center"}, "GetRoleCredentials 2; STS calls 0"},
		{[]string{"--providers", "--config", "providers.yaml"}, `User::"contractors/0a1b2c3d…|bob"`},
	} {
		var out bytes.Buffer
		if err := run(t.Context(), tt.args, &out); err != nil {
			t.Fatalf("run %v: %v\n%s", tt.args, err, out.String())
		}
		lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
		if last := lines[len(lines)-1]; !strings.Contains(last, tt.want) {
			t.Errorf("run %v: the last line %q lacks %q:\n%s", tt.args, last, tt.want, out.String())
		}
	}
}
