package awsapi

import (
	"bytes"
	"compress/gzip"
	"testing"
)

func TestCLIOptions(t *testing.T) {
	tests := []struct {
		service, command string
		want             map[string]OptionArity // a subset of the options
		absent           []string
	}{
		{"ec2", "describe-instances", map[string]OptionArity{
			"--dry-run": ArityFlag, "--no-dry-run": ArityFlag, "--instance-ids": ArityZeroOrMore,
			"--filters": ArityZeroOrMore, "--max-items": ArityOne, "--starting-token": ArityOne,
			"--page-size": ArityOne, "--cli-input-json": ArityOne, "--generate-cli-skeleton": ArityOptional,
		}, []string{"--region", "--bucket"}},
		{"s3api", "put-object", map[string]OptionArity{
			"--bucket": ArityOne, "--key": ArityOne, "--body": ArityOne,
			"--bucket-key-enabled": ArityFlag, "--no-bucket-key-enabled": ArityFlag,
		}, []string{"--dry-run"}},
		{"s3api", "list-objects-v2", map[string]OptionArity{"--bucket": ArityOne, "--prefix": ArityOne}, nil},
		{"iam", "create-access-key", map[string]OptionArity{"--user-name": ArityOne}, nil},
		// Customizations replace or add commands with options of their own.
		{"emr", "create-cluster", map[string]OptionArity{"--applications": ArityOneOrMore, "--auto-terminate": ArityFlag}, nil},
		{"cloudformation", "deploy", map[string]OptionArity{"--template-file": ArityOne, "--parameter-overrides": ArityOneOrMore}, nil},
		{"eks", "get-token", map[string]OptionArity{"--cluster-name": ArityOne}, nil},
		{"rds", "generate-db-auth-token", map[string]OptionArity{"--hostname": ArityOne, "--port": ArityOne}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.service+" "+tt.command, func(t *testing.T) {
			opts, ok, err := CLIOptions(tt.service, tt.command)
			if err != nil || !ok {
				t.Fatalf("CLIOptions: ok %v, err %v", ok, err)
			}
			for o, a := range tt.want {
				if got, ok := opts[o]; !ok || got != a {
					t.Errorf("%s: arity %v (present %v), want %v", o, got, ok, a)
				}
			}
			for _, o := range tt.absent {
				if _, ok := opts[o]; ok {
					t.Errorf("%s present; the command has no such option", o)
				}
			}
		})
	}
	for _, miss := range [][2]string{{"ec2", "wait"}, {"ec2", "describe-instancez"}, {"s3", "cp"}, {"nosuch", "list"}} {
		if _, ok, err := CLIOptions(miss[0], miss[1]); ok || err != nil {
			t.Errorf("CLIOptions(%q, %q): ok %v err %v, want not found", miss[0], miss[1], ok, err)
		}
	}
}

// TestCLIOptionsCoverCatalog decodes every service of the embedded file
// and checks it against the operation catalog: every operation the CLI
// offers has its options, so no API command is parsed without them.
func TestCLIOptionsCoverCatalog(t *testing.T) {
	c := catalog(t)
	cli, gen, err := CLIOptionsVersion()
	if err != nil || cli != c.AWSCLI || len(gen) != len("2006-01-02") {
		t.Fatalf("option tables from awscli %q (%q, err %v); the catalog is from awscli %q: regenerate both with make generate", cli, gen, err, c.AWSCLI)
	}
	n := 0
	for _, name := range c.Services() {
		s, _ := c.Service(name)
		if s.CLIName == "" {
			continue
		}
		for _, op := range s.Operations() {
			cmd := s.CLIOperationName(op)
			if cmd == "" {
				continue
			}
			if _, ok, err := CLIOptions(s.CLIName, cmd); err != nil || !ok {
				t.Errorf("aws %s %s: no options (err %v)", s.CLIName, cmd, err)
				continue
			}
			n++
		}
	}
	if n < 15000 {
		t.Errorf("%d API commands with options; the CLI has more than 15 000", n)
	}
}

func TestDecodeCLIOptsRefusesCorruptData(t *testing.T) {
	gz := func(s string) []byte {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		_, _ = w.Write([]byte(s))
		_ = w.Close()
		return b.Bytes()
	}
	for name, body := range map[string]string{
		"bad arity":     `{"services":{"x":{"options":["a=7"],"commands":{"c":[0]}}}}`,
		"no name":       `{"services":{"x":{"options":["=1"],"commands":{"c":[0]}}}}`,
		"bad index":     `{"services":{"x":{"options":["a=1"],"commands":{"c":[1]}}}}`,
		"duplicate":     `{"services":{"x":{"options":["a=1"],"commands":{"c":[0,0]}}}}`,
		"unknown field": `{"services":{"x":{"options":["a=1"],"commands":{"c":[0]},"extra":1}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			o, err := decodeCLIOpts(gz(body))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := o.service("x"); err == nil {
				t.Error("corrupt service data accepted")
			}
		})
	}
	if _, err := decodeCLIOpts([]byte("not gzip")); err == nil {
		t.Error("non-gzip data accepted")
	}
}
