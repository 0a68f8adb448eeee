package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// authz check reads claims of an oidc_providers provider the way the
// gateway does: the contractor's GUID group becomes contractors:s3-readers
// and the principal is provider-qualified, so the contractor policy, not
// the employees' one, decides.
func TestAuthzCheckProviders(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	contractor := write("c.json", `{"iss":"http://127.0.0.1:18403/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d/v2.0","tid":"0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d","sub":"alice","groups":["5b0c9a4e-2f1d-4c3b-9a8e-7d6c5b4a3f21"]}`)
	stranger := write("s.json", `{"iss":"https://elsewhere.example/","sub":"alice","groups":["s3-readers"]}`)
	n := 0
	req := func(cmd string) string {
		n++
		return write(strconv.Itoa(n)+".json", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"aws___call_aws","arguments":{"cli_command":"`+cmd+`"}}}`)
	}
	for _, c := range []struct {
		claims, cmd string
		code        int
	}{
		{contractor, "aws s3 ls", exitOK},
		{contractor, "aws s3 cp a s3://b/c", exitDeny},
		{contractor, "aws ec2 describe-instances", exitDeny},
		{stranger, "aws s3 ls", exitInvalid},
	} {
		var out, errOut bytes.Buffer
		code := run(t.Context(), []string{"authz", "check", "--config", "../../examples/quickstart/providers.yaml", "--claims", c.claims, "--request", req(c.cmd)}, &out, &errOut)
		if code != c.code {
			t.Errorf("%s %q: exit %d, want %d\n%s%s", filepath.Base(c.claims), c.cmd, code, c.code, out.String(), errOut.String())
		}
	}
}
