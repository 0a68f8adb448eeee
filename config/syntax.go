package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Checkers for the value syntaxes the schema uses. Each returns "" when the
// value is valid, otherwise the reason, phrased to follow "path: ".

var (
	// regionRE matches AWS region names: us-east-1, eu-central-1,
	// us-gov-west-1, cn-north-1, us-isob-east-1.
	regionRE = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}$`)
	// iamNameRE matches IAM role and policy name characters.
	iamNameRE = regexp.MustCompile(`^[\w+=,.@-]+$`)
	// accountRE matches a 12-digit AWS account ID.
	accountRE = regexp.MustCompile(`^[0-9]{12}$`)
	// serviceRE matches SigV4 service names such as "aws-mcp".
	serviceRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	// hostLabelRE matches one DNS label.
	hostLabelRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
)

// checkRegion checks AWS region syntax.
func checkRegion(s string) string {
	if !regionRE.MatchString(s) {
		return fmt.Sprintf("%q is not an AWS region name (want e.g. us-east-1, eu-central-1, us-gov-west-1)", s)
	}
	return ""
}

// checkRoleARN checks arn:<partition>:iam::<12 digits>:role/<path/>name.
func checkRoleARN(s string) string {
	resource, why := checkIAMARN(s, false)
	if why == "" {
		name, ok := strings.CutPrefix(resource, "role/")
		switch {
		case !ok:
			why = "resource must be role/<name>"
		default:
			why = checkIAMPathName(name, 64, "role")
		}
	}
	if why != "" {
		return "not an IAM role ARN: " + why
	}
	return ""
}

// checkPolicyARN checks arn:<partition>:iam::(<12 digits>|aws):policy/<path/>name.
func checkPolicyARN(s string) string {
	resource, why := checkIAMARN(s, true)
	if why == "" {
		name, ok := strings.CutPrefix(resource, "policy/")
		switch {
		case !ok:
			why = "resource must be policy/<name>"
		default:
			why = checkIAMPathName(name, 128, "policy")
		}
	}
	if why != "" {
		return "not an IAM policy ARN: " + why
	}
	return ""
}

// checkIAMARN checks the parts every IAM ARN shares and returns the resource.
// awsAccount allows the account "aws", which AWS managed policies use.
func checkIAMARN(s string, awsAccount bool) (resource, why string) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return "", "want arn:<partition>:iam::<account>:<resource>"
	}
	switch parts[1] {
	case "aws", "aws-cn", "aws-us-gov":
	default:
		return "", fmt.Sprintf("partition must be aws, aws-cn or aws-us-gov, got %q", parts[1])
	}
	if parts[2] != "iam" {
		return "", fmt.Sprintf("service must be iam, got %q", parts[2])
	}
	if parts[3] != "" {
		return "", "region must be empty: IAM is global"
	}
	if !accountRE.MatchString(parts[4]) && !(awsAccount && parts[4] == "aws") {
		if awsAccount {
			return "", fmt.Sprintf("account must be 12 digits or \"aws\", got %q", parts[4])
		}
		return "", fmt.Sprintf("account must be 12 digits, got %q", parts[4])
	}
	return parts[5], ""
}

// checkIAMPathName checks "<path/>name" after "role/" or "policy/".
func checkIAMPathName(s string, maxName int, what string) string {
	segs := strings.Split(s, "/")
	name := segs[len(segs)-1]
	if name == "" || len(name) > maxName || !iamNameRE.MatchString(name) {
		return fmt.Sprintf("%s name must be 1-%d characters of letters, digits and +=,.@_-", what, maxName)
	}
	for _, seg := range segs[:len(segs)-1] {
		if seg == "" || !iamNameRE.MatchString(seg) {
			return "path segments must be non-empty and use letters, digits and +=,.@_-"
		}
	}
	if len(s)-len(name) > 512 {
		return "path must be at most 512 characters"
	}
	return ""
}

// urlRules tunes checkURL for one key.
type urlRules struct {
	// noQuery rejects a query string (OIDC issuers have none).
	noQuery bool
}

// checkURL checks an absolute https URL; http is accepted for loopback hosts
// only, so local test servers work while a production typo cannot send
// tokens or credentials in clear text.
func checkURL(s string, r urlRules) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" {
		return "must be an absolute https URL"
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return "must use https (http is allowed only for loopback hosts)"
		}
	default:
		return "must use https (http is allowed only for loopback hosts)"
	}
	if u.Hostname() == "" {
		return "must be an absolute https URL"
	}
	if u.User != nil {
		return "must not contain user information"
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return "must not contain a fragment"
	}
	if r.noQuery && (u.RawQuery != "" || u.ForceQuery) {
		return "must not contain a query"
	}
	return ""
}

// isLoopback reports whether host is localhost or a loopback IP address
// (127.0.0.0/8, ::1).
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkListen checks a host:port listen address with a numeric port.
func checkListen(s string) string {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Sprintf("%q is not a host:port listen address (e.g. \":9002\" or \"127.0.0.1:9002\")", s)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Sprintf("%q: port must be a number from 0 to 65535", s)
	}
	return ""
}

// checkHost checks a host name or IP address with an optional port, as it
// appears in a Host header.
func checkHost(s string) string {
	if strings.Contains(s, "://") {
		return "must be a host name, not a URL"
	}
	host := s
	if h, port, err := net.SplitHostPort(s); err == nil {
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return "port must be a number from 1 to 65535"
		}
		host = h
	}
	if net.ParseIP(host) != nil {
		return ""
	}
	if len(host) > 253 {
		return "host name is longer than 253 characters"
	}
	for label := range strings.SplitSeq(host, ".") {
		if !hostLabelRE.MatchString(label) {
			return fmt.Sprintf("%q is not a valid host name", s)
		}
	}
	return ""
}

// checkScope checks an OAuth scope token (RFC 6749 section 3.3).
func checkScope(s string) string {
	if s == "" {
		return "must not be empty"
	}
	for _, r := range s {
		if r < 0x21 || r > 0x7e || r == '"' || r == '\\' {
			return fmt.Sprintf("%q is not a valid OAuth scope (no spaces, quotes or backslashes)", s)
		}
	}
	return ""
}
