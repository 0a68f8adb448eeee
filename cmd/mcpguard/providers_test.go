package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
	viewer := write("v.json", `{"iss":"http://127.0.0.1:18403/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d/v2.0","tid":"0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d","sub":"bob","groups":["8e7d6c5b-4a3f-4e21-8b0c-9a4e2f1d4c3b"]}`)
	stranger := write("s.json", `{"iss":"https://elsewhere.example/","sub":"alice","groups":["s3-readers"]}`)
	n := 0
	req := func(cmd string) string {
		n++
		name, arg := "aws___call_aws", "cli_command"
		if strings.HasPrefix(cmd, "return ") {
			name, arg = "aws___run_script", "code"
		}
		v, _ := json.Marshal(cmd)
		return write(strconv.Itoa(n)+".json", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"`+name+`","arguments":{"`+arg+`":`+string(v)+`}}}`)
	}
	const (
		listScript     = "return await call_boto3(service_name='s3', operation_name='ListBuckets')"
		putScript      = "return await call_boto3(service_name='s3', operation_name='PutObject', params={'Bucket': 'b', 'Key': 'c', 'Body': 'x'})"
		describeScript = "return await call_boto3(service_name='ec2', operation_name='DescribeInstances')"
		mixedScript    = "return [await call_boto3(service_name='s3', operation_name='ListBuckets'), await call_boto3(service_name='ec2', operation_name='DescribeInstances')]"
	)
	for _, c := range []struct {
		claims, cmd string
		code        int
	}{
		{contractor, "aws s3 ls", exitOK},
		{contractor, "aws s3 cp a s3://b/c", exitDeny},
		{contractor, "aws ec2 describe-instances", exitDeny},
		{stranger, "aws s3 ls", exitInvalid},
		// The same through aws___run_script, and a script that mixes
		// S3 and EC2, which neither contractor group may run.
		{contractor, listScript, exitOK},
		{contractor, putScript, exitDeny},
		{contractor, describeScript, exitDeny},
		{contractor, mixedScript, exitDeny},
		{viewer, describeScript, exitOK},
		{viewer, listScript, exitDeny},
		{viewer, mixedScript, exitDeny},
		{stranger, listScript, exitInvalid},
	} {
		var out, errOut bytes.Buffer
		code := run(t.Context(), []string{"authz", "check", "--config", "../../examples/quickstart/providers.yaml", "--claims", c.claims, "--request", req(c.cmd)}, &out, &errOut)
		if code != c.code {
			t.Errorf("%s %q: exit %d, want %d\n%s%s", filepath.Base(c.claims), c.cmd, code, c.code, out.String(), errOut.String())
		}
	}
}
