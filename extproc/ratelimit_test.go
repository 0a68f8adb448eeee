package extproc

import (
	"slices"
	"strings"
	"testing"

	"github.com/mcpguard/mcpguard/mcp"
)

func TestAccountOf(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:iam::123456789012:role/DefaultMCPRole": "123456789012",
		"arn:aws:sts::123456789012:assumed-role/R/s":    "123456789012",
		"arn:aws-us-gov:iam::111122223333:role/x":       "111122223333",
		"not-an-arn":   "",
		"arn:aws:iam:": "",
		"arn:aws:iam::210987654321:role/aws-reserved/sso.amazonaws.com/x": "210987654321",
	} {
		if got := accountOf(arn); got != want {
			t.Errorf("accountOf(%q) = %q, want %q", arn, got, want)
		}
	}
}

func TestToolsOf(t *testing.T) {
	b, err := mcp.Parse([]byte(`[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{}}},`+
		`{"jsonrpc":"2.0","id":2,"method":"tools/list"},{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"b"}}]`), mcp.Limits{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if got := toolsOf(b); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("toolsOf = %v", got)
	}
	if toolsOf(nil) != nil {
		t.Fatal("nil body has tools")
	}
}

// FuzzAccountOf: the account read from any ARN is the fifth field, never
// spans a separator, and is empty for what is not an ARN.
func FuzzAccountOf(f *testing.F) {
	f.Add("arn:aws:iam::123456789012:role/R")
	f.Add("arn:aws:sts::1:assumed-role/a:b:c")
	f.Add(":::::")
	f.Fuzz(func(t *testing.T, arn string) {
		got := accountOf(arn)
		if strings.Contains(got, ":") {
			t.Fatalf("account %q spans a separator", got)
		}
		if got != "" && !strings.HasPrefix(arn, "arn:") {
			t.Fatalf("account %q from a non-ARN", got)
		}
		if got != "" && strings.Split(arn, ":")[4] != got {
			t.Fatalf("account %q is not the fifth field of %q", got, arn)
		}
	})
}
