package authz

import (
	"slices"
	"strings"
	"testing"
	"unicode"
)

func TestParseAWSCommand(t *testing.T) {
	tests := []struct {
		name    string
		cmd     string
		want    awsCommand
		wantErr string // substring; "" means success
	}{
		{name: "simple", cmd: "aws s3 ls", want: awsCommand{Service: "s3", Operation: "ls"}},
		// The AWS CLI accepts unambiguous prefixes of long options, so
		// guard rails must see the full global option name.
		{name: "abbreviated endpoint-url", cmd: "aws s3 ls --endpoint https://attacker.example",
			want: awsCommand{Service: "s3", Operation: "ls", Flags: []string{"--endpoint-url"}}},
		{name: "abbreviated profile before service", cmd: "aws --prof admin s3 ls",
			want: awsCommand{Service: "s3", Operation: "ls", Flags: []string{"--profile"}}},
		{name: "abbreviated no-sign-request", cmd: "aws s3 ls --no-sign",
			want: awsCommand{Service: "s3", Operation: "ls", Flags: []string{"--no-sign-request"}}},
		{name: "abbreviated region", cmd: "aws ec2 describe-instances --reg=eu-west-1",
			want: awsCommand{Service: "ec2", Operation: "describe-instances", Flags: []string{"--region"}, Region: "eu-west-1"}},
		{name: "ambiguous abbreviation", cmd: "aws s3 ls --no", wantErr: "ambiguous"},
		{name: "command option kept", cmd: "aws s3 ls s3://b --recursive",
			want: awsCommand{Service: "s3", Operation: "ls", Flags: []string{"--recursive"}}},
		{name: "bucket and region", cmd: "aws s3 ls s3://b --region eu-west-1",
			want: awsCommand{Service: "s3", Operation: "ls", Flags: []string{"--region"}, Region: "eu-west-1"}},
		{name: "region with equals", cmd: "aws ec2 describe-instances --region=us-west-2 --max-items 5",
			want: awsCommand{Service: "ec2", Operation: "describe-instances", Flags: []string{"--region", "--max-items"}, Region: "us-west-2"}},
		{name: "global options before service", cmd: "aws --region us-east-1 --output json --debug s3api list-buckets",
			want: awsCommand{Service: "s3api", Operation: "list-buckets", Flags: []string{"--region", "--output", "--debug"}, Region: "us-east-1"}},
		{name: "extra spaces and tabs", cmd: "  aws\ts3   ls  ", want: awsCommand{Service: "s3", Operation: "ls"}},
		{name: "double quotes", cmd: `aws s3api get-object --bucket "my bucket" --key "a;b|c" out`,
			want: awsCommand{Service: "s3api", Operation: "get-object", Flags: []string{"--bucket", "--key"}}},
		{name: "single quotes keep everything literal", cmd: "aws ec2 describe-instances --query 'Reservations[?State==`running`]|[0]'",
			want: awsCommand{Service: "ec2", Operation: "describe-instances", Flags: []string{"--query"}}},
		{name: "quoted service", cmd: `aws "s3" 'ls'`, want: awsCommand{Service: "s3", Operation: "ls"}},
		{name: "escaped space", cmd: `aws s3 ls s3://my\ bucket`, want: awsCommand{Service: "s3", Operation: "ls"}},
		{name: "escaped semicolon is literal", cmd: `aws s3 ls s3://b/a\;b`, want: awsCommand{Service: "s3", Operation: "ls"}},
		{name: "escaped dollar in double quotes", cmd: `aws s3 ls "s3://b/\$x"`, want: awsCommand{Service: "s3", Operation: "ls"}},
		{name: "hash inside word", cmd: `aws s3 ls s3://b/a#b`, want: awsCommand{Service: "s3", Operation: "ls"}},
		{name: "endpoint-url flag is visible", cmd: "aws s3 ls --endpoint-url https://evil.example",
			want: awsCommand{Service: "s3", Operation: "ls", Flags: []string{"--endpoint-url"}}},
		{name: "endpoint-url as global option", cmd: "aws --endpoint-url=https://evil.example s3 ls",
			want: awsCommand{Service: "s3", Operation: "ls", Flags: []string{"--endpoint-url"}}},
		{name: "profile flag is visible", cmd: "aws --profile admin s3 ls",
			want: awsCommand{Service: "s3", Operation: "ls", Flags: []string{"--profile"}}},

		{name: "semicolon", cmd: "aws s3 ls; aws iam list-users", wantErr: "operator"},
		{name: "semicolon no space", cmd: "aws s3 ls;rm -rf /", wantErr: "operator"},
		{name: "pipe", cmd: "aws s3 ls | sh", wantErr: "operator"},
		{name: "and", cmd: "aws s3 ls && aws iam list-users", wantErr: "operator"},
		{name: "or", cmd: "aws s3 ls || true", wantErr: "operator"},
		{name: "background", cmd: "aws s3 ls &", wantErr: "operator"},
		{name: "redirect out", cmd: "aws s3 ls > /tmp/x", wantErr: "operator"},
		{name: "redirect in", cmd: "aws s3 cp - s3://b/k < /etc/passwd", wantErr: "operator"},
		{name: "command substitution", cmd: "aws s3 ls $(whoami)", wantErr: "expansion"},
		{name: "substitution in double quotes", cmd: `aws s3 ls "$(whoami)"`, wantErr: "expansion"},
		{name: "parameter expansion", cmd: "aws s3 ls ${HOME}", wantErr: "expansion"},
		{name: "variable", cmd: "aws s3 ls $BUCKET", wantErr: "expansion"},
		{name: "backticks", cmd: "aws s3 ls `whoami`", wantErr: "backtick"},
		{name: "backticks in double quotes", cmd: "aws s3 ls \"`whoami`\"", wantErr: "backtick"},
		{name: "newline", cmd: "aws s3 ls\naws iam list-users", wantErr: "newline"},
		{name: "newline in quotes", cmd: "aws s3 ls 's3://b\n'", wantErr: "newline"},
		{name: "carriage return", cmd: "aws s3 ls\r", wantErr: "newline"},
		{name: "escaped newline", cmd: "aws s3 ls \\\naws iam list-users", wantErr: "newline"},
		{name: "nul byte", cmd: "aws s3 ls \x00", wantErr: "control"},
		{name: "two aws invocations", cmd: "aws s3 ls aws iam list-users", wantErr: "more than one"},
		{name: "subshell", cmd: "aws s3 ls (x)", wantErr: "operator"},
		{name: "brace expansion", cmd: "aws s3 ls --{endpoint-url,x}=http://e", wantErr: "operator"},
		{name: "comment", cmd: "aws s3 ls #--region x", wantErr: "comment"},
		{name: "not aws", cmd: "gcloud storage ls", wantErr: "does not start"},
		{name: "path to aws", cmd: "/usr/bin/aws s3 ls", wantErr: "does not start"},
		{name: "empty", cmd: "   ", wantErr: "empty"},
		{name: "missing service", cmd: "aws", wantErr: "missing service"},
		{name: "missing operation", cmd: "aws s3", wantErr: "missing operation"},
		{name: "empty quoted service", cmd: `aws "" ls`, wantErr: "missing service"},
		{name: "empty quoted operation", cmd: `aws s3 ''`, wantErr: "missing operation"},
		{name: "flag instead of operation", cmd: "aws s3 --region x", wantErr: "missing operation"},
		{name: "unknown global option", cmd: "aws --frobnicate s3 ls", wantErr: "unknown option"},
		{name: "global option without value", cmd: "aws --output", wantErr: "no value"},
		{name: "region twice", cmd: "aws s3 ls --region a --region b", wantErr: "more than once"},
		{name: "region without value", cmd: "aws s3 ls --region", wantErr: "no value"},
		{name: "region empty", cmd: "aws s3 ls --region=", wantErr: "no value"},
		{name: "bare double dash", cmd: "aws s3 ls -- x", wantErr: "--"},
		{name: "unterminated single", cmd: "aws s3 ls 'abc", wantErr: "unterminated"},
		{name: "unterminated double", cmd: `aws s3 ls "abc`, wantErr: "unterminated"},
		{name: "trailing backslash", cmd: `aws s3 ls \`, wantErr: "backslash"},

		// Global options anywhere the CLI's main parser reads them.
		{name: "global between service and operation", cmd: "aws s3 --region us-east-1 ls",
			want: awsCommand{Service: "s3", Operation: "ls", Flags: []string{"--region"}, Region: "us-east-1", Regions: []string{"us-east-1"}}},
		{name: "globals in every position", cmd: "aws --output json s3 --prof x ls s3://b --rec --no-sign",
			want: awsCommand{Service: "s3", Operation: "ls", Flags: []string{"--output", "--profile", "--recursive", "--no-sign-request"}}},
		{name: "global between service and operation of an API command", cmd: "aws ec2 --endpoint-url=https://e.example describe-instances",
			want: awsCommand{Service: "ec2", Operation: "describe-instances", Flags: []string{"--endpoint-url"}}},
		{name: "command option before the operation", cmd: "aws ec2 --dry-run describe-instances", wantErr: "unknown option"},
		{name: "region twice across positions", cmd: "aws --region=us-east-1 s3 ls --region us-west-2", wantErr: "more than once"},
		{name: "global value that looks like an option", cmd: "aws s3 ls --query --recursive", wantErr: "no value"},
		{name: "global flag with a value", cmd: "aws s3 ls --debug=1", wantErr: "takes no value"},

		// Prefix expansion of the s3 commands' own options.
		{name: "sync --del is --delete", cmd: "aws s3 sync . s3://b --del",
			want: awsCommand{Service: "s3", Operation: "sync", Flags: []string{"--delete"}}},
		{name: "sync --delete exact", cmd: "aws s3 sync . s3://b --delete --exact",
			want: awsCommand{Service: "s3", Operation: "sync", Flags: []string{"--delete", "--exact-timestamps"}}},
		{name: "global prefix wins over command option", cmd: "aws s3 sync . s3://b --de",
			want: awsCommand{Service: "s3", Operation: "sync", Flags: []string{"--debug"}}},
		{name: "ls --p is --profile, as the main parser reads it first", cmd: "aws s3 ls --p admin",
			want: awsCommand{Service: "s3", Operation: "ls", Flags: []string{"--profile"}}},
		{name: "ls --page is --page-size", cmd: "aws s3 ls s3://b --page 5",
			want: awsCommand{Service: "s3", Operation: "ls", Flags: []string{"--page-size"}}},
		{name: "cp --stor", cmd: "aws s3 cp a s3://b/k --stor STANDARD",
			want: awsCommand{Service: "s3", Operation: "cp", Flags: []string{"--storage-class"}}},
		{name: "cp --s is ambiguous", cmd: "aws s3 cp a s3://b/k --s x", wantErr: "ambiguous"},
		{name: "cp --exp is ambiguous", cmd: "aws s3 cp a s3://b/k --exp 5", wantErr: "ambiguous"},
		{name: "mv --v is ambiguous among globals", cmd: "aws s3 mv a s3://b/k --v", wantErr: "ambiguous"},
		{name: "mv --val", cmd: "aws s3 mv s3://a/k s3://b/k --val",
			want: awsCommand{Service: "s3", Operation: "mv", Flags: []string{"--validate-same-s3-paths"}}},
		{name: "rm --rec", cmd: "aws s3 rm s3://b --rec --quiet",
			want: awsCommand{Service: "s3", Operation: "rm", Flags: []string{"--recursive", "--quiet"}}},
		{name: "rb --f", cmd: "aws s3 rb s3://b --f",
			want: awsCommand{Service: "s3", Operation: "rb", Flags: []string{"--force"}}},
		{name: "mb --t", cmd: "aws s3 mb s3://b --t k=v k2=v2",
			want: awsCommand{Service: "s3", Operation: "mb", Flags: []string{"--tags"}}},
		{name: "presign --expires", cmd: "aws s3 presign s3://b/k --expires 60",
			want: awsCommand{Service: "s3", Operation: "presign", Flags: []string{"--expires-in"}}},
		{name: "website --index --error", cmd: "aws s3 website s3://b --index i.html --error e.html",
			want: awsCommand{Service: "s3", Operation: "website", Flags: []string{"--index-document", "--error-document"}}},
		{name: "request-payer takes an optional value", cmd: "aws s3 ls --request-payer s3://b --recursive",
			want: awsCommand{Service: "s3", Operation: "ls", Flags: []string{"--request-payer", "--recursive"}}},
		{name: "grants takes several values", cmd: "aws s3 cp a s3://b/k --grants read=uri=x full=id=y --quiet",
			want: awsCommand{Service: "s3", Operation: "cp", Flags: []string{"--grants", "--quiet"}}},
		{name: "unknown s3 option", cmd: "aws s3 cp a s3://b/k --frobnicate", wantErr: "unknown option"},
		{name: "unknown s3 command", cmd: "aws s3 frob s3://b", wantErr: "unknown s3 command"},
		// Prefix expansion of API commands' options, from the CLI's own
		// parser for each command (awsapi.CLIOptions).
		{name: "ec2 --dry is --dry-run", cmd: "aws ec2 describe-instances --dry",
			want: awsCommand{Service: "ec2", Operation: "describe-instances", Flags: []string{"--dry-run"}}},
		{name: "ec2 --no-dry is --no-dry-run", cmd: "aws ec2 describe-instances --no-dry",
			want: awsCommand{Service: "ec2", Operation: "describe-instances", Flags: []string{"--no-dry-run"}}},
		{name: "ec2 list option then flag", cmd: "aws ec2 terminate-instances --instance i-1 i-2 --dry",
			want: awsCommand{Service: "ec2", Operation: "terminate-instances", Flags: []string{"--instance-ids", "--dry-run"}}},
		{name: "ec2 zero-or-more option may be empty", cmd: "aws ec2 describe-instances --instance-ids --dry-run",
			want: awsCommand{Service: "ec2", Operation: "describe-instances", Flags: []string{"--instance-ids", "--dry-run"}}},
		{name: "ec2 --d is the global --debug", cmd: "aws ec2 describe-instances --d",
			want: awsCommand{Service: "ec2", Operation: "describe-instances", Flags: []string{"--debug"}}},
		{name: "ec2 --in is ambiguous", cmd: "aws ec2 describe-instances --in i-1", wantErr: "ambiguous"},
		{name: "eks --cluster is ambiguous", cmd: "aws eks get-token --cluster prod", wantErr: "ambiguous"},
		{name: "unknown API option", cmd: "aws ec2 describe-instances --frobnicate", wantErr: "unknown option"},
		{name: "API flag with a value", cmd: "aws ec2 describe-instances --dry-run=yes", wantErr: "takes no value"},
		{name: "API value option without value", cmd: "aws ec2 describe-instances --max-items --dry-run", wantErr: "no value"},
		{name: "API one-or-more option without value", cmd: "aws emr create-cluster --applications --name x", wantErr: "no value"},
		{name: "s3api abbreviations", cmd: "aws s3api put-object --bucket b --k k --bo f --bucket-key",
			want: awsCommand{Service: "s3api", Operation: "put-object", Flags: []string{"--bucket", "--key", "--body", "--bucket-key-enabled"}}},
		{name: "s3api --buck is ambiguous", cmd: "aws s3api put-object --buck b", wantErr: "ambiguous"},
		{name: "--cli-input is ambiguous (CLI v2 has json and yaml)", cmd: "aws s3api list-buckets --cli-input '{}'", wantErr: "ambiguous"},
		{name: "--cli-input-y is --cli-input-yaml", cmd: "aws s3api list-buckets --cli-input-y x",
			want: awsCommand{Service: "s3api", Operation: "list-buckets", Flags: []string{"--cli-input-yaml"}}},
		{name: "iam --user is --user-name", cmd: "aws iam create-access-key --user alice",
			want: awsCommand{Service: "iam", Operation: "create-access-key", Flags: []string{"--user-name"}}},
		{name: "sts abbreviations", cmd: "aws sts assume-role --role-a arn:aws:iam::123456789012:role/x --role-s s",
			want: awsCommand{Service: "sts", Operation: "assume-role", Flags: []string{"--role-arn", "--role-session-name"}}},
		{name: "customization options", cmd: "aws cloudformation deploy --template t.yaml --stack s --param a=b c=d",
			want: awsCommand{Service: "cloudformation", Operation: "deploy", Flags: []string{"--template-file", "--stack-name", "--parameter-overrides"}}},
		{name: "grouping command keeps options as written", cmd: "aws ec2 wait instance-running --instance-ids i-1",
			want: awsCommand{Service: "ec2", Operation: "wait", Flags: []string{"--instance-ids"}}},
		{name: "unknown operation keeps options as written", cmd: "aws ec2 describe-instancez --dry",
			want: awsCommand{Service: "ec2", Operation: "describe-instancez", Flags: []string{"--dry"}}},
		{name: "s3 flag with a value", cmd: "aws s3 ls --recursive=yes", wantErr: "takes no value"},
		{name: "s3 value option without value", cmd: "aws s3 ls --page-size --recursive", wantErr: "no value"},
		{name: "short option", cmd: "aws s3 ls -r", wantErr: "short option"},
		{name: "stdin dash is a value", cmd: "aws s3 cp - s3://b/k",
			want: awsCommand{Service: "s3", Operation: "cp"}},
		{name: "negative number is a value", cmd: "aws ec2 describe-instances --max-items -5",
			want: awsCommand{Service: "ec2", Operation: "describe-instances", Flags: []string{"--max-items"}}},

		// Regions a policy must see.
		{name: "region star", cmd: "aws s3 ls --region '*'",
			want: awsCommand{Service: "s3", Operation: "ls", Flags: []string{"--region"}, Region: "*", Regions: []string{"*"}}},
		{name: "region of an access point ARN", cmd: "aws s3 ls s3://arn:aws:s3:eu-west-1:123456789012:accesspoint/ap/",
			want: awsCommand{Service: "s3", Operation: "ls", Regions: []string{"eu-west-1"}}},
		{name: "region of an ARN option value", cmd: "aws lambda invoke --function-name arn:aws:lambda:ap-south-1:123456789012:function:f out --region us-east-1",
			want: awsCommand{Service: "lambda", Operation: "invoke", Flags: []string{"--function-name", "--region"}, Region: "us-east-1", Regions: []string{"ap-south-1", "us-east-1"}}},
		{name: "source region", cmd: "aws s3 cp s3://a/k s3://b/k --source-region ap-south-1 --region=us-east-1",
			want: awsCommand{Service: "s3", Operation: "cp", Flags: []string{"--source-region", "--region"}, Region: "us-east-1", Regions: []string{"ap-south-1", "us-east-1"}}},

		// Separators the upstream's splitter might read as whitespace.
		{name: "no-break space", cmd: "aws s3\u00a0rb s3://b", wantErr: "U+00A0"},
		{name: "em space", cmd: "aws s3 rb\u2003s3://b", wantErr: "U+2003"},
		{name: "ideographic space", cmd: "aws s3 ls\u3000--recursive", wantErr: "U+3000"},
		{name: "next line", cmd: "aws s3 ls\u0085aws iam list-users", wantErr: "U+0085"},
		{name: "line separator", cmd: "aws s3 ls\u2028", wantErr: "U+2028"},
		{name: "zero width space", cmd: "aws s3 ls --re\u200bcursive", wantErr: "U+200B"},
		{name: "byte order mark", cmd: "\ufeffaws s3 ls", wantErr: "U+FEFF"},
		{name: "vertical tab", cmd: "aws s3 ls\vx", wantErr: "control"},
		{name: "form feed", cmd: "aws s3 ls\fx", wantErr: "control"},
		{name: "invalid utf-8", cmd: "aws s3 ls \xff", wantErr: "UTF-8"},
		{name: "other non-ASCII is fine", cmd: "aws s3 ls s3://b/caf\u00e9",
			want: awsCommand{Service: "s3", Operation: "ls"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAWSCommand(tt.cmd)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("parse %q = %+v, want error containing %q", tt.cmd, got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %q does not contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse %q: %v", tt.cmd, err)
			}
			wantRegions := tt.want.Regions
			if wantRegions == nil && tt.want.Region != "" {
				wantRegions = []string{tt.want.Region}
			}
			if got.Service != tt.want.Service || got.Operation != tt.want.Operation || got.Region != tt.want.Region ||
				!slices.Equal(got.Flags, tt.want.Flags) || !slices.Equal(got.Regions, wantRegions) {
				t.Fatalf("parse %q = %+v, want %+v", tt.cmd, got, tt.want)
			}
		})
	}
}

func TestShellWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{`a b`, []string{"a", "b"}},
		{`a "b c" 'd e'`, []string{"a", "b c", "d e"}},
		{`a"b"'c'`, []string{"abc"}},
		{`""`, []string{""}},
		{`a\ b`, []string{"a b"}},
		{`"a\"b"`, []string{`a"b`}},
		{`"a\nb"`, []string{`a\nb`}},
		{`'a\b'`, []string{`a\b`}},
		{`"a|b;c&d"`, []string{"a|b;c&d"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := shellWords(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzParseAWSCommand checks that the parser never panics and that whatever
// it accepts is one plain aws command: no newline, no unquoted operator, a
// service and an operation, and only long options in Flags.
func FuzzParseAWSCommand(f *testing.F) {
	for _, s := range []string{
		"aws s3 ls", "aws s3 ls s3://b --region eu-west-1", `aws s3 ls "a b" 'c;d'`,
		"aws s3 ls; aws iam list-users", "aws s3 ls $(id)", "aws s3 ls `id`", "aws s3 ls\nx",
		"aws --profile p --region=r ec2 describe-instances --filters Name=x,Values=y",
		"aws s3 --reg us-east-1 sync . s3://b --del", "aws s3 cp a s3://b --s x", "aws s3\u00a0ls",
		"aws s3 ls s3://arn:aws:s3:eu-west-1:1:accesspoint/a", "aws s3 mb s3://b --tags a=b c=d --region '*'",
		"aws ec2 terminate-instances --inst i-1 i-2 --dry", "aws s3api put-object --bucket=b --k k --bo f", "aws emr create-cluster --app Name=Spark --auto",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cmd string) {
		c, err := parseAWSCommand(cmd)
		if err != nil {
			return
		}
		if strings.ContainsAny(cmd, "\n\r\x00") {
			t.Fatalf("accepted a command with a newline or NUL: %q", cmd)
		}
		if c.Service == "" || c.Operation == "" {
			t.Fatalf("accepted %q without service or operation: %+v", cmd, c)
		}
		for _, fl := range c.Flags {
			if !strings.HasPrefix(fl, "--") || strings.Contains(fl, "=") {
				t.Fatalf("flag %q from %q", fl, cmd)
			}
			if _, global := globalOptions[fl]; !global {
				for g := range globalOptions {
					if strings.HasPrefix(g, fl) {
						t.Fatalf("flag %q abbreviates global %s but was kept: %q", fl, g, cmd)
					}
				}
				if c.Service == "s3" {
					if _, ok := s3Commands[c.Operation][fl]; !ok {
						t.Fatalf("s3 %s flag %q is not a full option name: %q", c.Operation, fl, cmd)
					}
				}
			}
		}
		for _, r := range cmd {
			if r >= 0x80 && unicode.IsSpace(r) {
				t.Fatalf("accepted Unicode whitespace %U: %q", r, cmd)
			}
		}
		words, err := shellWords(cmd)
		if err != nil {
			t.Fatalf("parse accepted %q but shellWords failed: %v", cmd, err)
		}
		if words[0] != "aws" {
			t.Fatalf("accepted %q", cmd)
		}
		for _, w := range words[1:] {
			if w == "aws" {
				t.Fatalf("accepted a second aws invocation: %q", cmd)
			}
		}
		// Outside single quotes no operator or expansion character survives.
		inSingle, inDouble := false, false
		for i := 0; i < len(cmd); i++ {
			ch := cmd[i]
			switch {
			case inSingle:
				if ch == '\'' {
					inSingle = false
				}
			case ch == '\\':
				i++
			case ch == '\'' && !inDouble:
				inSingle = true
			case ch == '"':
				inDouble = !inDouble
			case ch == '$' || ch == '`':
				t.Fatalf("accepted expansion in %q", cmd)
			case !inDouble && strings.IndexByte(";|&<>(){}", ch) >= 0:
				t.Fatalf("accepted operator %q in %q", ch, cmd)
			}
		}
	})
}

func TestParseCLICommandOperands(t *testing.T) {
	tests := []struct {
		cmd      string
		operands []string
	}{
		{"aws s3 cp --content-type text/plain /data s3://dst/k --quiet", []string{"/data", "s3://dst/k"}},
		{"aws s3 sync . s3://b --exclude '*.tmp' --delete", []string{".", "s3://b"}},
		{"aws s3 ls --request-payer s3://b", nil},
		{"aws s3 cp - s3://b/k --grants read=uri=x full=id=y", []string{"-", "s3://b/k"}},
		{"aws ec2 describe-instances --instance-ids i-1 i-2", nil},
		// "--x=v" is exactly one value, whatever the option's nargs: argparse
		// takes the words after it as positional, and so must the audit.
		{"aws s3 cp --grants=read=uri=x s3://src/k s3://dst/k", []string{"s3://src/k", "s3://dst/k"}},
		{"aws ec2 terminate-instances --instance-ids=i-1 i-2", []string{"i-2"}},
		{"aws s3api get-object --bucket b --key k /tmp/out", []string{"/tmp/out"}},
	}
	for _, tt := range tests {
		c, err := ParseCLICommand(tt.cmd)
		if err != nil {
			t.Fatalf("%s: %v", tt.cmd, err)
		}
		if !slices.Equal(c.Operands, tt.operands) {
			t.Errorf("%s: operands %q, want %q", tt.cmd, c.Operands, tt.operands)
		}
	}
}
