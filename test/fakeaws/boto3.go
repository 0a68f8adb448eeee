package fakeaws

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// boto3Service is what the fake knows of a boto3 service: its IAM prefix
// and the parameters of the operations it has behaviour for.
type boto3Service struct {
	prefix string
	ops    map[string]opSpec
}

type opSpec struct {
	required, optional []string
}

// boto3Services are the services run_script's call_boto3 can reach in the
// fake, with the members of each operation's input shape (botocore's
// service-2.json) used for parameter validation.
var boto3Services = map[string]boto3Service{
	"s3": {prefix: "s3", ops: map[string]opSpec{
		"ListBuckets":   {optional: []string{"MaxBuckets", "ContinuationToken", "Prefix", "BucketRegion"}},
		"ListObjectsV2": {required: []string{"Bucket"}, optional: []string{"Delimiter", "EncodingType", "MaxKeys", "Prefix", "ContinuationToken", "FetchOwner", "StartAfter", "RequestPayer", "ExpectedBucketOwner", "OptionalObjectAttributes"}},
	}},
	"ec2": {prefix: "ec2", ops: map[string]opSpec{
		"DescribeInstances": {optional: []string{"InstanceIds", "DryRun", "Filters", "NextToken", "MaxResults"}},
		"DescribeRegions":   {optional: []string{"RegionNames", "AllRegions", "DryRun", "Filters"}},
	}},
	"iam": {prefix: "iam", ops: map[string]opSpec{
		"ListUsers": {optional: []string{"PathPrefix", "Marker", "MaxItems"}},
	}},
	"sts": {prefix: "sts", ops: map[string]opSpec{
		"GetCallerIdentity": {},
	}},
	"stepfunctions": {prefix: "states", ops: map[string]opSpec{}},
	"lambda":        {prefix: "lambda", ops: map[string]opSpec{}},
	"dynamodb":      {prefix: "dynamodb", ops: map[string]opSpec{}},
}

// boto3Invoker performs call_boto3 calls as the verified caller.
type boto3Invoker struct {
	s       *Server
	c       caller
	policy  *sessionPolicy // the credentials' session policy; nil: none
	region  string         // the server's region, for calls without region_name
	request func() string
}

func clientError(code, op, msg string) *pyError {
	return &pyError{typ: "botocore.exceptions.ClientError",
		msg: fmt.Sprintf("An error occurred (%s) when calling the %s operation: %s", code, op, msg)}
}

func (b *boto3Invoker) invoke(service, operation, regionName string, params map[string]any) (map[string]any, *pyError) {
	svc, ok := boto3Services[service]
	if !ok {
		names := make([]string, 0, len(boto3Services))
		for n := range boto3Services {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, &pyError{typ: "botocore.exceptions.UnknownServiceError",
			msg: fmt.Sprintf("Unknown service: '%s'. Valid service names are: %s", service, strings.Join(names, ", "))}
	}
	if regionName == "" {
		regionName = b.region
	}
	if !slices.ContainsFunc(regions, func(r region) bool { return r.ID == regionName }) {
		return nil, &pyError{typ: "botocore.exceptions.EndpointConnectionError",
			msg: fmt.Sprintf(`Could not connect to the endpoint URL: "https://%s.%s.amazonaws.com/"`, service, regionName)}
	}
	action := svc.prefix + ":" + operation
	// sts:GetCallerIdentity needs no permission, as in AWS.
	if action != "sts:GetCallerIdentity" && !slices.Contains(b.s.opts.Permissions[b.c.roleARN], svc.prefix) {
		return nil, clientError("AccessDenied", operation, fmt.Sprintf("User: %s is not authorized to perform: %s because no identity-based policy allows the %s action", b.c.assumedRoleARN(), action, action))
	}
	if msg := sessionPolicyDenial(b.policy, b.c.assumedRoleARN(), service, operation); msg != "" {
		return nil, clientError("AccessDenied", operation, msg)
	}
	spec, ok := svc.ops[operation]
	if !ok {
		return nil, &pyError{typ: "NotImplementedError", msg: "fakeaws has no behaviour for " + action}
	}
	if err := validateParams(spec, params); err != nil {
		return nil, err
	}
	meta := map[string]any{"RequestId": b.request(), "HTTPStatusCode": int64(200), "RetryAttempts": int64(0)}
	var resp map[string]any
	switch action {
	case "sts:GetCallerIdentity":
		resp = map[string]any{"UserId": "AROAFAKEAWSEXAMPLE00:" + b.c.sessionName, "Account": b.c.account(), "Arn": b.c.assumedRoleARN()}
	case "s3:ListBuckets":
		bs := []any{}
		for _, bk := range buckets {
			if p, ok := params["Prefix"].(string); ok && !strings.HasPrefix(bk.Name, p) {
				continue
			}
			bs = append(bs, map[string]any{"Name": bk.Name, "CreationDate": pyTime(bk.CreationDate), "BucketRegion": DefaultRegion})
		}
		resp = map[string]any{"Buckets": bs, "Owner": map[string]any{"DisplayName": "fakeaws", "ID": ownerID}, "Prefix": params["Prefix"]}
		if resp["Prefix"] == nil {
			delete(resp, "Prefix")
		}
	case "s3:ListObjectsV2":
		name, _ := params["Bucket"].(string)
		if !slices.ContainsFunc(buckets, func(bk bucket) bool { return bk.Name == name }) {
			return nil, clientError("NoSuchBucket", operation, "The specified bucket does not exist")
		}
		prefix, _ := params["Prefix"].(string)
		maxKeys := int64(1000)
		if mk, ok := params["MaxKeys"].(int64); ok {
			maxKeys = mk
		}
		contents := []any{}
		for _, o := range objects {
			if strings.HasPrefix(o.key, prefix) && int64(len(contents)) < maxKeys {
				contents = append(contents, map[string]any{"Key": o.key, "LastModified": pyTime(o.modified), "ETag": `"` + o.etag + `"`,
					"ChecksumAlgorithm": []any{"CRC64NVME"}, "ChecksumType": "FULL_OBJECT", "Size": o.size, "StorageClass": "STANDARD"})
			}
		}
		resp = map[string]any{"IsTruncated": false, "Name": name, "Prefix": prefix, "MaxKeys": maxKeys,
			"EncodingType": "url", "KeyCount": int64(len(contents))}
		if len(contents) > 0 {
			resp["Contents"] = contents
		}
	case "ec2:DescribeInstances":
		res := []any{}
		if regionName == DefaultRegion {
			for _, i := range instances {
				res = append(res, map[string]any{"Groups": []any{}, "Instances": []any{map[string]any{
					"InstanceId": i.InstanceID, "InstanceType": i.InstanceType, "State": i.State,
					"PrivateIpAddress": i.PrivateIPAddress, "LaunchTime": pyTime(i.LaunchTime),
					"Placement": i.Placement, "Tags": tagList(i.Tags),
				}}, "OwnerId": b.c.account(), "ReservationId": "r-" + i.InstanceID[2:]})
			}
		}
		resp = map[string]any{"Reservations": res}
	case "ec2:DescribeRegions":
		rs := []any{}
		for _, r := range regions {
			rs = append(rs, map[string]any{"RegionName": r.ID, "Endpoint": "ec2." + r.ID + ".amazonaws.com", "OptInStatus": "opt-in-not-required"})
		}
		resp = map[string]any{"Regions": rs}
	case "iam:ListUsers":
		us := []any{}
		for _, u := range iamUsers {
			us = append(us, map[string]any{"Path": "/", "UserName": u.name, "UserId": u.id,
				"Arn": "arn:aws:iam::" + b.c.account() + ":user/" + u.name, "CreateDate": pyTime(u.created)})
		}
		resp = map[string]any{"Users": us, "IsTruncated": false}
	default:
		return nil, &pyError{typ: "NotImplementedError", msg: "fakeaws has no behaviour for " + action}
	}
	resp["ResponseMetadata"] = meta
	return resp, nil
}

// validateParams reports parameters the way botocore's validator does.
func validateParams(spec opSpec, params map[string]any) *pyError {
	var problems []string
	for _, r := range spec.required {
		if _, ok := params[r]; !ok {
			problems = append(problems, fmt.Sprintf("Missing required parameter in input: %q", r))
		}
	}
	valid := append(append([]string(nil), spec.required...), spec.optional...)
	for _, k := range sortedKeys(params) {
		if !slices.Contains(valid, k) {
			problems = append(problems, fmt.Sprintf("Unknown parameter in input: %q, must be one of: %s", k, strings.Join(valid, ", ")))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return &pyError{typ: "botocore.exceptions.ParamValidationError", msg: "Parameter validation failed:\n" + strings.Join(problems, "\n")}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// pyTime renders an RFC 3339 UTC time as the sandbox serialises a Python
// datetime: isoformat with an explicit offset.
func pyTime(t string) string { return strings.TrimSuffix(t, "Z") + "+00:00" }

func tagList(tags []map[string]string) []any {
	out := make([]any, len(tags))
	for i, t := range tags {
		out[i] = map[string]any{"Key": t["Key"], "Value": t["Value"]}
	}
	return out
}

const ownerID = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"

type object struct {
	key, modified, etag string
	size                int64
}

var objects = []object{
	{"report.csv", "2025-03-03T08:15:00Z", "9b2cf535f27731c974343645a3985328", 1024},
	{"summary.parquet", "2025-03-04T10:00:00Z", "6f5902ac237024bdd0c176cb93063dc4", 20480},
}

type iamUser struct{ name, id, created string }

var iamUsers = []iamUser{
	{"alice", "AIDAFAKEAWSALICE0001", "2024-11-02T09:30:00Z"},
	{"deploy-bot", "AIDAFAKEAWSDEPLOY001", "2025-01-15T12:00:00Z"},
}
