package config

import (
	"strings"
	"testing"
)

func TestCheckRoleARN(t *testing.T) {
	tests := []struct {
		arn  string
		want string // "" for valid, else a substring of the reason
	}{
		{"arn:aws:iam::123456789012:role/S3ReadOnlyMCPRole", ""},
		{"arn:aws-cn:iam::123456789012:role/R", ""},
		{"arn:aws-us-gov:iam::123456789012:role/R", ""},
		{"arn:aws:iam::123456789012:role/team/mcp/R+=,.@_-1", ""},
		{"arn:aws:iam::123456789012:role/" + strings.Repeat("a", 64), ""},
		{"arn:aws:iam::ACCOUNT:role/S3ReadOnlyMCPRole", `account must be 12 digits, got "ACCOUNT"`},
		{"arn:aws:iam::12345678901:role/R", "account must be 12 digits"},
		{"arn:aws:iam::aws:role/R", "account must be 12 digits"},
		{"arn:aws-iso:iam::123456789012:role/R", "partition must be"},
		{"arn:aws:sts::123456789012:role/R", "service must be iam"},
		{"arn:aws:iam:us-east-1:123456789012:role/R", "region must be empty"},
		{"arn:aws:iam::123456789012:user/R", "resource must be role/<name>"},
		{"arn:aws:iam::123456789012:role/", "role name must be"},
		{"arn:aws:iam::123456789012:role/a b", "role name must be"},
		{"arn:aws:iam::123456789012:role/" + strings.Repeat("a", 65), "role name must be"},
		{"arn:aws:iam::123456789012:role//R", "path segments"},
		{"arn:aws:iam::123456789012:role/a:b", "role name must be"},
		{"S3ReadOnlyMCPRole", "want arn:"},
		{"", "want arn:"},
	}
	for _, tc := range tests {
		t.Run(tc.arn, func(t *testing.T) {
			got := checkRoleARN(tc.arn)
			if tc.want == "" {
				if got != "" {
					t.Fatalf("checkRoleARN(%q) = %q, want valid", tc.arn, got)
				}
				return
			}
			if !strings.HasPrefix(got, "not an IAM role ARN: ") || !strings.Contains(got, tc.want) {
				t.Fatalf("checkRoleARN(%q) = %q, want a reason containing %q", tc.arn, got, tc.want)
			}
		})
	}
}

func TestCheckPolicyARN(t *testing.T) {
	tests := []struct {
		arn   string
		valid bool
	}{
		{"arn:aws:iam::aws:policy/ReadOnlyAccess", true},
		{"arn:aws:iam::aws:policy/service-role/AWSLambdaRole", true},
		{"arn:aws:iam::123456789012:policy/team/McpLimits", true},
		{"arn:aws-cn:iam::aws:policy/ReadOnlyAccess", true},
		{"arn:aws:iam::ACCOUNT:policy/P", false},
		{"arn:aws:iam::aws:role/P", false},
		{"arn:aws:iam::aws:policy/", false},
		{"arn:aws:s3:::bucket", false},
	}
	for _, tc := range tests {
		t.Run(tc.arn, func(t *testing.T) {
			if got := checkPolicyARN(tc.arn); (got == "") != tc.valid {
				t.Fatalf("checkPolicyARN(%q) = %q, want valid=%v", tc.arn, got, tc.valid)
			}
		})
	}
}

func TestCheckRegion(t *testing.T) {
	tests := []struct {
		region string
		valid  bool
	}{
		{"us-east-1", true},
		{"eu-central-1", true},
		{"ap-southeast-2", true},
		{"us-gov-west-1", true},
		{"cn-north-1", true},
		{"us-isob-east-1", true},
		{"me-central-1", true},
		{"us-east", false},
		{"US-EAST-1", false},
		{"useast1", false},
		{"us-east-1 ", false},
		{"", false},
	}
	for _, tc := range tests {
		t.Run(tc.region, func(t *testing.T) {
			if got := checkRegion(tc.region); (got == "") != tc.valid {
				t.Fatalf("checkRegion(%q) = %q, want valid=%v", tc.region, got, tc.valid)
			}
		})
	}
}

func TestCheckURL(t *testing.T) {
	const httpOnlyLoopback = "must use https (http is allowed only for loopback hosts)"
	tests := []struct {
		url   string
		rules urlRules
		want  string
	}{
		{"https://idp.example.com/oauth2/default", urlRules{}, ""},
		{"https://idp.example.com:8443", urlRules{}, ""},
		{"http://localhost:8080", urlRules{}, ""},
		{"http://LOCALHOST", urlRules{}, ""},
		{"http://127.0.0.1:9000/x", urlRules{}, ""},
		{"http://127.8.9.10", urlRules{}, ""},
		{"http://[::1]:8080", urlRules{}, ""},
		{"http://idp.example.com", urlRules{}, httpOnlyLoopback},
		{"http://10.0.0.1", urlRules{}, httpOnlyLoopback},
		{"http://localhost.example.com", urlRules{}, httpOnlyLoopback},
		{"ftp://idp.example.com", urlRules{}, httpOnlyLoopback},
		{"idp.example.com", urlRules{}, "must be an absolute https URL"},
		{"/relative", urlRules{}, "must be an absolute https URL"},
		{"https://", urlRules{}, "must be an absolute https URL"},
		{"https://user:pw@idp.example.com", urlRules{}, "must not contain user information"},
		{"https://idp.example.com/#x", urlRules{}, "must not contain a fragment"},
		{"https://idp.example.com/?a=b", urlRules{}, ""},
		{"https://idp.example.com/?a=b", urlRules{noQuery: true}, "must not contain a query"},
		{"https://idp.example.com/?", urlRules{noQuery: true}, "must not contain a query"},
		{"https://idp example.com", urlRules{}, "must be an absolute https URL"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			if got := checkURL(tc.url, tc.rules); got != tc.want {
				t.Fatalf("checkURL(%q) = %q, want %q", tc.url, got, tc.want)
			}
		})
	}
}

func TestCheckListen(t *testing.T) {
	tests := []struct {
		addr  string
		valid bool
	}{
		{":9002", true},
		{"0.0.0.0:9002", true},
		{"[::]:9090", true},
		{"localhost:0", true},
		{"9002", false},
		{":http", false},
		{":70000", false},
		{"host", false},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			if got := checkListen(tc.addr); (got == "") != tc.valid {
				t.Fatalf("checkListen(%q) = %q, want valid=%v", tc.addr, got, tc.valid)
			}
		})
	}
}

func TestCheckHost(t *testing.T) {
	tests := []struct {
		host  string
		valid bool
	}{
		{"aws-mcp.us-east-1.api.aws", true},
		{"localhost:8443", true},
		{"127.0.0.1", true},
		{"[::1]:443", true},
		{"https://aws-mcp.us-east-1.api.aws", false},
		{"aws-mcp.us-east-1.api.aws/mcp", false},
		{"-bad.example.com", false},
		{"a..b", false},
		{"host:0", false},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			if got := checkHost(tc.host); (got == "") != tc.valid {
				t.Fatalf("checkHost(%q) = %q, want valid=%v", tc.host, got, tc.valid)
			}
		})
	}
}
