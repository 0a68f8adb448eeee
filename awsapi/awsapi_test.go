package awsapi

import (
	"slices"
	"strings"
	"testing"
)

func catalog(t testing.TB) *Catalog {
	t.Helper()
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCatalogMetadata(t *testing.T) {
	c := catalog(t)
	if c.Botocore == "" || c.AWSCLI == "" || len(c.Generated) != len("2006-01-02") {
		t.Errorf("versions not recorded: botocore %q awscli %q generated %q", c.Botocore, c.AWSCLI, c.Generated)
	}
	if n := len(c.Services()); n < 300 {
		t.Errorf("%d services; botocore has more than 300", n)
	}
}

func TestPrefixes(t *testing.T) {
	c := catalog(t)
	for svc, want := range map[string]string{
		"s3": "s3", "s3control": "s3", "ec2": "ec2", "iam": "iam", "sts": "sts",
		"stepfunctions": "states", "cloudwatch": "cloudwatch", "elbv2": "elasticloadbalancing",
		"efs": "elasticfilesystem", "emr": "elasticmapreduce", "sesv2": "ses", "iot-data": "iot",
		"resourcegroupstaggingapi": "tag", "opensearch": "es", "bedrock-runtime": "bedrock",
		"lambda": "lambda", "dynamodbstreams": "dynamodb", "eks-auth": "eks-auth",
	} {
		s, ok := c.Service(svc)
		if !ok {
			t.Errorf("service %q missing", svc)
			continue
		}
		if s.Prefix != want {
			t.Errorf("%s: prefix %q, want %q", svc, s.Prefix, want)
		}
	}
}

func TestOperationsAndCLINames(t *testing.T) {
	c := catalog(t)
	tests := []struct {
		service, cliService, op, cli string
	}{
		{"s3", "s3api", "ListObjectsV2", "list-objects-v2"},
		{"s3", "s3api", "ListBuckets", "list-buckets"},
		{"ec2", "ec2", "DescribeInstances", "describe-instances"},
		{"stepfunctions", "stepfunctions", "StartExecution", "start-execution"},
		{"config", "configservice", "DescribeConfigRules", "describe-config-rules"},
		{"codedeploy", "deploy", "ListApplications", "list-applications"},
		{"iam", "iam", "ListUsers", "list-users"},
		{"sts", "sts", "GetCallerIdentity", "get-caller-identity"},
		{"rds", "rds", "DescribeDBInstances", "describe-db-instances"},
	}
	for _, tt := range tests {
		s, ok := c.Service(tt.service)
		if !ok {
			t.Fatalf("service %q missing", tt.service)
		}
		if !s.HasOperation(tt.op) {
			t.Errorf("%s has no %s", tt.service, tt.op)
		}
		if s.HasOperation(strings.ToLower(tt.op)) {
			t.Errorf("%s: operation names are case-sensitive", tt.service)
		}
		if got := s.CLIOperationName(tt.op); got != tt.cli {
			t.Errorf("%s %s: CLI name %q, want %q", tt.service, tt.op, got, tt.cli)
		}
		bc, ok := c.ServiceByCLI(tt.cliService)
		if !ok || bc != s {
			t.Errorf("CLI service %q does not resolve to %s", tt.cliService, tt.service)
			continue
		}
		if op, ok := bc.CLIOperation(tt.cli); !ok || op != tt.op {
			t.Errorf("CLI %s %s → %q %v, want %s", tt.cliService, tt.cli, op, ok, tt.op)
		}
	}
	rds, _ := c.Service("rds")
	if op, _ := rds.CLIOperation("remove-option-from-option-group"); op != "ModifyOptionGroup" {
		t.Errorf("rds remove-option-from-option-group → %q, want ModifyOptionGroup", op)
	}
	if _, ok := c.ServiceByCLI("s3"); ok {
		t.Error(`"s3" is the high-level command, not a service command`)
	}
}

func TestAction(t *testing.T) {
	c := catalog(t)
	tests := []struct {
		service, op, want string
		known             bool
	}{
		{"s3", "ListBuckets", "s3:ListBuckets", true},
		{"stepfunctions", "StartExecution", "states:StartExecution", true},
		{"s3", "ListBukets", "s3:ListBukets", false},
		{"s3", "GeneratePresignedUrl", "s3:GeneratePresignedUrl", false},
		{"nosuchservice", "DoIt", "nosuchservice:DoIt", false},
		{"iam", "CreateAccessKey", "iam:CreateAccessKey", true},
	}
	for _, tt := range tests {
		got, known := c.Action(tt.service, tt.op)
		if got != tt.want || known != tt.known {
			t.Errorf("Action(%s, %s) = %q %v, want %q %v", tt.service, tt.op, got, known, tt.want, tt.known)
		}
	}
}

func TestReadOnly(t *testing.T) {
	r := DefaultReadClass()
	for action, want := range map[string]bool{
		"s3:ListBuckets": true, "ec2:DescribeInstances": true, "s3:GetObject": true, "s3:HeadObject": true,
		"dynamodb:Query": true, "dynamodb:Scan": true, "dynamodb:BatchGetItem": true, "cloudtrail:LookupEvents": true,
		"s3:SelectObjectContent": true, "kendra:Query": true, "resource-explorer-2:Search": true,
		"s3:PutObject": false, "s3:DeleteObject": false, "iam:CreateAccessKey": false, "ec2:RunInstances": false,
		"sts:GetSessionToken": false, "ecr:GetAuthorizationToken": false, "sts:GetFederationToken": false,
		"x:Getaway": false, "x:Listen": false, "x:Scanner": false, "ListBuckets": false, "x:": false,
		"sts:AssumeRole": false, "s3:BatchGetThing": true, "x:Batch": false,
	} {
		if got := r.ReadOnly(action); got != want {
			t.Errorf("ReadOnly(%q) = %v, want %v", action, got, want)
		}
	}
	custom, err := NewReadClass([]string{"List"}, []string{"s3:ListBuckets"})
	if err != nil {
		t.Fatal(err)
	}
	if custom.ReadOnly("s3:ListBuckets") || !custom.ReadOnly("s3:ListObjectsV2") || custom.ReadOnly("s3:GetObject") {
		t.Error("a configured read class is not applied")
	}
	for _, bad := range [][2][]string{{{"get"}, nil}, {{""}, nil}, {{"Get-"}, nil}, {{"Get"}, {"nocolon"}}, {{"Get"}, {":Op"}}} {
		if _, err := NewReadClass(bad[0], bad[1]); err == nil {
			t.Errorf("NewReadClass(%q, %q) accepted", bad[0], bad[1])
		}
	}
}

func TestCLICommand(t *testing.T) {
	c := catalog(t)
	tests := []struct {
		cmd     string
		want    []string // service:Operation
		wantErr bool
	}{
		{"s3api list-buckets", []string{"s3:ListBuckets"}, false},
		{"s3api list-objects-v2 --bucket b", []string{"s3:ListObjectsV2"}, false},
		{"ec2 describe-instances --region eu-west-1", []string{"ec2:DescribeInstances"}, false},
		{"stepfunctions start-execution --state-machine-arn x", []string{"stepfunctions:StartExecution"}, false},
		{"configservice describe-config-rules", []string{"config:DescribeConfigRules"}, false},
		{"s3api list-bukets", []string{"s3:ListBukets"}, false},
		{"nosuch do-it", []string{"nosuch:DoIt"}, false},
		{"ecr get-login-password", []string{"ecr:GetAuthorizationToken"}, false},
		{"eks get-token --cluster-name c", []string{"eks:GetToken"}, false},
		{"rds generate-db-auth-token --hostname h", []string{"rds:GenerateDBAuthToken"}, false},
		{"codeartifact login --tool pip", []string{"codeartifact:GetAuthorizationToken", "codeartifact:GetRepositoryEndpoint"}, false},
		{"ec2 wait instance-running", nil, true},
		{"s3 ls", []string{"s3:ListBuckets"}, false},
	}
	for _, tt := range tests {
		w := strings.Fields(tt.cmd)
		calls, err := c.CLICommand(w[0], w[1], w[2:])
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err %v", tt.cmd, err)
			continue
		}
		var got []string
		for _, cl := range calls {
			got = append(got, cl.Service+":"+cl.Operation)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.cmd, got, tt.want)
		}
	}
}

func TestS3Command(t *testing.T) {
	c := catalog(t)
	up := []string{"AbortMultipartUpload", "CompleteMultipartUpload", "CreateMultipartUpload", "PutObject", "UploadPart"}
	cp := []string{"AbortMultipartUpload", "CompleteMultipartUpload", "CopyObject", "CreateMultipartUpload", "HeadObject", "UploadPartCopy"}
	with := func(base []string, more ...string) []string {
		out := append(append([]string(nil), base...), more...)
		slices.Sort(out)
		return slices.Compact(out)
	}
	tests := []struct {
		line    string
		want    []string
		wantErr string
	}{
		{"ls", []string{"ListBuckets"}, ""},
		{"ls s3://", []string{"ListBuckets"}, ""},
		{"ls --recursive", []string{"ListBuckets"}, ""},
		{"ls s3://reports", []string{"ListObjectsV2"}, ""},
		{"ls reports --recursive --human-readable", []string{"ListObjectsV2"}, ""},
		{"ls --page-size 10 s3://b", []string{"ListObjectsV2"}, ""},
		{"ls --region eu-west-1 s3://b/p/", []string{"ListObjectsV2"}, ""},
		{"cp ./a s3://b/a", up, ""},
		{"cp - s3://b/a", up, ""},
		{"cp s3://b/a ./a", []string{"GetObject", "HeadObject"}, ""},
		{"cp s3://b/a -", []string{"GetObject", "HeadObject"}, ""},
		{"cp s3://b/a s3://c/a", cp, ""},
		{"cp s3://b/ . --recursive", []string{"GetObject", "HeadObject", "ListObjectsV2"}, ""},
		{"cp --rec s3://b/ .", []string{"GetObject", "HeadObject", "ListObjectsV2"}, ""},
		{"cp ./a s3://b/a --exclude '*' --include x", up, ""},
		{"cp --sse AES256 ./a s3://b/a", up, ""},
		{"cp --sse=AES256 ./a s3://b/a", up, ""},
		{"cp ./a ./b", nil, "neither path"},
		{"cp ./a", nil, "path(s)"},
		{"mv s3://b/a ./a", []string{"DeleteObject", "GetObject", "HeadObject"}, ""},
		{"mv ./a s3://b/a", up, ""},
		{"mv s3://b/a s3://c/a", with(cp, "DeleteObject"), ""},
		{"rm s3://b/a", []string{"DeleteObject"}, ""},
		{"rm s3://b/ --recursive", []string{"DeleteObject", "ListObjectsV2"}, ""},
		{"rm ./a", nil, "not an S3 URI"},
		{"sync . s3://b", with(up, "ListObjectsV2"), ""},
		{"sync . s3://b --delete", with(up, "ListObjectsV2", "DeleteObject"), ""},
		{"sync . s3://b --del", with(up, "ListObjectsV2", "DeleteObject"), ""},
		{"sync s3://b .", []string{"GetObject", "HeadObject", "ListObjectsV2"}, ""},
		{"sync s3://b . --delete", []string{"GetObject", "HeadObject", "ListObjectsV2"}, ""},
		{"sync s3://b s3://c --delete", with(cp, "ListObjectsV2", "DeleteObject"), ""},
		{"mb s3://new", []string{"CreateBucket"}, ""},
		{"mb s3://new --tags k v", []string{"CreateBucket"}, ""},
		{"rb s3://old", []string{"DeleteBucket"}, ""},
		{"rb s3://old --force", []string{"DeleteBucket", "DeleteObject", "ListObjectsV2"}, ""},
		{"presign s3://b/k --expires-in 60", []string{"GetObject"}, ""},
		{"website s3://b --index-document index.html", []string{"PutBucketWebsite"}, ""},
		{"ls --nosuch", nil, "unknown option"},
		{"sync . s3://b --s", nil, "ambiguous"},
		{"ls -r", nil, "short option"},
		{"ls -- s3://b", nil, `"--"`},
		{"rm s3://b/a --recursive=yes", nil, "takes no value"},
		{"cp --grants ./a s3://b/a", nil, "path(s)"},
		{"mb s3://new --tags k", nil, "needs 2"},
		{"nosuch s3://b", nil, "does not map"},
	}
	for _, tt := range tests {
		w := strings.Fields(strings.ReplaceAll(tt.line, "'", ""))
		got, err := c.S3Command(w[0], w[1:])
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("s3 %s: err %v, want %q", tt.line, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("s3 %s: %v", tt.line, err)
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("s3 %s: %q, want %q", tt.line, got, tt.want)
		}
		s3, _ := c.Service("s3")
		for _, op := range got {
			if !s3.HasOperation(op) {
				t.Errorf("s3 %s: %s is not an S3 operation", tt.line, op)
			}
		}
	}
}

func TestPascalCase(t *testing.T) {
	for in, want := range map[string]string{"get-token": "GetToken", "ls": "Ls", "a--b": "AB", "": ""} {
		if got := PascalCase(in); got != want {
			t.Errorf("PascalCase(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzS3Command(f *testing.F) {
	c := catalog(f)
	for _, s := range []string{"ls", "cp a s3://b/c --recursive", "sync . s3://b --del", "rm s3://x --rec", "mb s3://x --tags a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		w := strings.Fields(line)
		if len(w) == 0 {
			return
		}
		ops, err := c.S3Command(w[0], w[1:])
		if err != nil {
			return
		}
		if len(ops) == 0 {
			t.Fatalf("s3 %q: no operations and no error", line)
		}
		s3, _ := c.Service("s3")
		for _, op := range ops {
			if !s3.HasOperation(op) {
				t.Fatalf("s3 %q: %s is not an S3 operation", line, op)
			}
		}
	})
}

func BenchmarkCLICommand(b *testing.B) {
	c := catalog(b)
	args := []string{"--bucket", "reports"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.CLICommand("s3api", "list-objects-v2", args); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decode(servicesGz); err != nil {
			b.Fatal(err)
		}
	}
}
