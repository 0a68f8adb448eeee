package awsapi

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Call is one API operation of a boto3 service.
type Call struct {
	Service   string
	Operation string
}

// ErrUnmapped is a CLI command that is neither an API operation nor a
// customization this package knows the operations of (aws configure, aws
// cloudformation deploy, aws <service> wait). What it calls is unknown.
var ErrUnmapped = errors.New("the AWS CLI command does not map to known API operations")

// customization is a CLI command that is not one API operation.
type customization struct {
	service string
	ops     []string
}

// customizations are the AWS CLI commands, outside `aws s3`, that mint
// credentials or tokens, with the operations they perform. Commands the
// model lacks get a PascalCase pseudo-operation that botocore does not know
// (eks GetToken, rds GenerateDBAuthToken): they sign a request locally
// instead of calling AWS, and a policy must still be able to name them.
var customizations = map[string]customization{
	"ecr get-login-password":        {"ecr", []string{"GetAuthorizationToken"}},
	"ecr get-login":                 {"ecr", []string{"GetAuthorizationToken"}},
	"ecr-public get-login-password": {"ecr-public", []string{"GetAuthorizationToken"}},
	"codeartifact login":            {"codeartifact", []string{"GetAuthorizationToken", "GetRepositoryEndpoint"}},
	"eks get-token":                 {"eks", []string{"GetToken"}},
	"eks update-kubeconfig":         {"eks", []string{"DescribeCluster"}},
	"rds generate-db-auth-token":    {"rds", []string{"GenerateDBAuthToken"}},
}

// CLICommand maps an AWS CLI command (the service and operation words and
// the words after them) to the API operations it performs. A command the
// model does not know becomes the operation its name spells, in the service
// its first word names (so "aws s3api list-bukets" is s3 ListBukets, which
// Catalog.Action reports as unknown). The high-level s3 commands go through
// S3Command; the other customizations that are not one operation give
// ErrUnmapped unless they are among the credential helpers this package
// knows.
func (c *Catalog) CLICommand(service, command string, args []string) ([]Call, error) {
	if service == "s3" {
		ops, err := c.S3Command(command, args)
		if err != nil {
			return nil, err
		}
		calls := make([]Call, len(ops))
		for i, op := range ops {
			calls[i] = Call{Service: "s3", Operation: op}
		}
		return calls, nil
	}
	if cz, ok := customizations[service+" "+command]; ok {
		calls := make([]Call, len(cz.ops))
		for i, op := range cz.ops {
			calls[i] = Call{Service: cz.service, Operation: op}
		}
		return calls, nil
	}
	if command == "wait" || service == "configure" || service == "history" {
		return nil, fmt.Errorf("aws %s %s: %w", service, command, ErrUnmapped)
	}
	s, ok := c.byCLI[service]
	if !ok {
		return []Call{{Service: service, Operation: PascalCase(command)}}, nil
	}
	if op, ok := s.CLIOperation(command); ok {
		return []Call{{Service: s.Name, Operation: op}}, nil
	}
	return []Call{{Service: s.Name, Operation: PascalCase(command)}}, nil
}

// Global options of the AWS CLI, valid after any command, and whether they
// take a value.
var globalOptions = map[string]arity{
	"--region": 1, "--profile": 1, "--endpoint-url": 1, "--output": 1, "--query": 1, "--color": 1,
	"--ca-bundle": 1, "--cli-read-timeout": 1, "--cli-connect-timeout": 1, "--cli-binary-format": 1,
	"--debug": 0, "--no-verify-ssl": 0, "--no-paginate": 0, "--no-sign-request": 0,
	"--no-cli-pager": 0, "--cli-auto-prompt": 0, "--no-cli-auto-prompt": 0, "--v2-debug": 0,
}

// Operations of the transfers the high-level s3 commands make.
var (
	s3Upload   = []string{"PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "AbortMultipartUpload"}
	s3Download = []string{"GetObject", "HeadObject"}
	s3Copy     = []string{"CopyObject", "HeadObject", "CreateMultipartUpload", "UploadPartCopy", "CompleteMultipartUpload", "AbortMultipartUpload"}
)

// S3Command maps a high-level `aws s3` command and the words after it to
// the S3 operations it performs:
//
//   - ls: ListBuckets without a bucket (or with "s3://"), ListObjectsV2 with
//     one;
//   - cp: local→S3 PutObject and the multipart upload operations; S3→local
//     GetObject and HeadObject; S3→S3 CopyObject, HeadObject and the
//     multipart copy operations; --recursive with an S3 source adds
//     ListObjectsV2;
//   - mv: as cp, plus DeleteObject when the source is in S3 (a local source
//     is deleted locally);
//   - rm: DeleteObject, plus ListObjectsV2 with --recursive;
//   - sync: ListObjectsV2 and the transfer of cp for its direction, plus
//     DeleteObject with --delete when the destination is in S3;
//   - mb: CreateBucket; rb: DeleteBucket, plus ListObjectsV2 and
//     DeleteObject with --force;
//   - presign: GetObject (the URL it signs performs it);
//   - website: PutBucketWebsite.
//
// Options are read as the CLI's argument parser reads them, including
// unambiguous abbreviations ("--del" is --delete); an ambiguous or unknown
// option, a short option, a wrong number of paths or "--" is an error, never
// a guess.
func (c *Catalog) S3Command(command string, args []string) ([]string, error) {
	opts, ok := c.s3opts[command]
	if !ok {
		return nil, fmt.Errorf("aws s3 %s: %w", command, ErrUnmapped)
	}
	var paths []string
	flags := map[string]bool{}
	for i := 0; i < len(args); i++ {
		w := args[i]
		if w == "-" || !strings.HasPrefix(w, "-") {
			paths = append(paths, w)
			continue
		}
		if w == "--" {
			return nil, errors.New(`aws s3: bare "--" is not supported`)
		}
		if !strings.HasPrefix(w, "--") {
			return nil, fmt.Errorf("aws s3 %s: short option %q is not supported", command, w)
		}
		name, _, hasValue := strings.Cut(w, "=")
		canon, n, err := resolveS3Option(opts, name)
		if err != nil {
			return nil, fmt.Errorf("aws s3 %s: %w", command, err)
		}
		flags[canon] = true
		switch {
		case n == 0:
			if hasValue {
				return nil, fmt.Errorf("aws s3 %s: option %s takes no value", command, canon)
			}
		case hasValue:
			if n > 1 {
				return nil, fmt.Errorf("aws s3 %s: option %s takes %d values", command, canon, n)
			}
		case n == arityOptional:
			// argparse takes the next word when it is not an option.
			if i+1 < len(args) && !isOption(args[i+1]) {
				i++
			}
		case n == arityMany:
			if i+1 >= len(args) || isOption(args[i+1]) {
				return nil, fmt.Errorf("aws s3 %s: option %s needs a value", command, canon)
			}
			for i+1 < len(args) && !isOption(args[i+1]) {
				i++
			}
		default:
			for range int(n) {
				if i+1 >= len(args) || isOption(args[i+1]) {
					return nil, fmt.Errorf("aws s3 %s: option %s needs %d value(s)", command, canon, n)
				}
				i++
			}
		}
	}
	want := map[string][2]int{"ls": {0, 1}, "cp": {2, 2}, "mv": {2, 2}, "sync": {2, 2}, "rm": {1, 1}, "mb": {1, 1}, "rb": {1, 1}, "presign": {1, 1}, "website": {1, 1}}[command]
	if len(paths) < want[0] || len(paths) > want[1] {
		return nil, fmt.Errorf("aws s3 %s: %d path(s) given, want %d", command, len(paths), want[1])
	}
	isS3 := func(p string) bool { return strings.HasPrefix(p, "s3://") }
	var ops []string
	switch command {
	case "ls":
		if len(paths) == 0 || paths[0] == "s3://" {
			ops = []string{"ListBuckets"}
		} else {
			ops = []string{"ListObjectsV2"}
		}
	case "cp", "mv", "sync":
		src, dst := paths[0], paths[1]
		switch {
		case isS3(src) && isS3(dst):
			ops = append(ops, s3Copy...)
		case isS3(src):
			ops = append(ops, s3Download...)
		case isS3(dst):
			ops = append(ops, s3Upload...)
		default:
			return nil, fmt.Errorf("aws s3 %s: neither path is in S3", command)
		}
		if command == "sync" {
			ops = append(ops, "ListObjectsV2")
			if flags["--delete"] && isS3(dst) {
				ops = append(ops, "DeleteObject")
			}
			break
		}
		if flags["--recursive"] && isS3(src) {
			ops = append(ops, "ListObjectsV2")
		}
		if command == "mv" && isS3(src) {
			ops = append(ops, "DeleteObject")
		}
	case "rm", "mb", "rb", "website":
		if !isS3(paths[0]) {
			return nil, fmt.Errorf("aws s3 %s: path %q is not an S3 URI", command, paths[0])
		}
		switch command {
		case "rm":
			ops = []string{"DeleteObject"}
			if flags["--recursive"] {
				ops = append(ops, "ListObjectsV2")
			}
		case "mb":
			ops = []string{"CreateBucket"}
		case "rb":
			ops = []string{"DeleteBucket"}
			if flags["--force"] {
				ops = append(ops, "ListObjectsV2", "DeleteObject")
			}
		case "website":
			ops = []string{"PutBucketWebsite"}
		}
	case "presign":
		ops = []string{"GetObject"}
	}
	slices.Sort(ops)
	return slices.Compact(ops), nil
}

// isOption is how argparse tells an option from a value: it starts with
// "-" and is more than "-".
func isOption(w string) bool { return len(w) > 1 && w[0] == '-' }

// resolveS3Option finds the option a word names among the command's and
// the global options, accepting an unambiguous prefix as argparse does.
func resolveS3Option(opts map[string]arity, name string) (string, arity, error) {
	if n, ok := opts[name]; ok {
		return name, n, nil
	}
	if n, ok := globalOptions[name]; ok {
		return name, n, nil
	}
	match, n := "", arity(0)
	for _, set := range []map[string]arity{opts, globalOptions} {
		for o, a := range set {
			if !strings.HasPrefix(o, name) || len(name) <= 2 {
				continue
			}
			if match != "" && match != o {
				return "", 0, fmt.Errorf("option %q is ambiguous", name)
			}
			match, n = o, a
		}
	}
	if match == "" {
		return "", 0, fmt.Errorf("unknown option %q", name)
	}
	return match, n, nil
}
