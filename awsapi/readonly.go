package awsapi

import (
	"fmt"
	"strings"
	"unicode"
)

// DefaultReadVerbs are the operation verbs of the default read class: an
// operation whose name starts with one of them, followed by an upper-case
// letter or nothing, reads and does not change anything (GetObject,
// ListBuckets, DescribeInstances, Query). The AWS API naming guidelines give
// these verbs to operations without side effects.
var DefaultReadVerbs = []string{"Get", "List", "Describe", "Head", "Search", "Query", "Scan", "BatchGet", "Lookup", "Select"}

// DefaultNotReadOnly are actions whose names read like reads but that mint
// credentials or tokens which act with the caller's permissions elsewhere:
// they are never read-only, whatever the verbs say. (Reads of stored
// secrets, such as secretsmanager:GetSecretValue, are reads and stay in the
// class; forbid them by name where that matters.)
var DefaultNotReadOnly = []string{
	"sts:GetSessionToken",
	"sts:GetFederationToken",
	"sts:GetWebIdentityToken",
	"ecr:GetAuthorizationToken",
	"ecr-public:GetAuthorizationToken",
	"codeartifact:GetAuthorizationToken",
	"cognito-identity:GetCredentialsForIdentity",
	"cognito-identity:GetOpenIdToken",
	"cognito-identity:GetOpenIdTokenForDeveloperIdentity",
	"sso:GetRoleCredentials",
	"redshift:GetClusterCredentials",
	"redshift:GetClusterCredentialsWithIAM",
	"redshift-serverless:GetCredentials",
	"eks:GetToken",
	"lightsail:GetInstanceAccessDetails",
}

// ReadClass decides whether an action only reads: its operation starts with
// one of the read verbs and the action is not in the exclusions.
type ReadClass struct {
	verbs   []string
	exclude map[string]bool
}

// NewReadClass builds a read class. Verbs must be PascalCase words
// ("Get", "BatchGet"); exclusions are "<prefix>:<Operation>" actions.
func NewReadClass(verbs, exclude []string) (*ReadClass, error) {
	r := &ReadClass{exclude: make(map[string]bool, len(exclude))}
	for _, v := range verbs {
		if v == "" || !unicode.IsUpper(rune(v[0])) || strings.ContainsFunc(v, func(c rune) bool { return !unicode.IsLetter(c) || c > unicode.MaxASCII }) {
			return nil, fmt.Errorf("read verb %q is not a PascalCase word", v)
		}
		r.verbs = append(r.verbs, v)
	}
	for _, a := range exclude {
		p, op, ok := strings.Cut(a, ":")
		if !ok || p == "" || op == "" {
			return nil, fmt.Errorf("excluded action %q is not <prefix>:<Operation>", a)
		}
		r.exclude[a] = true
	}
	return r, nil
}

// DefaultReadClass is the read class of DefaultReadVerbs and
// DefaultNotReadOnly.
func DefaultReadClass() *ReadClass {
	r, err := NewReadClass(DefaultReadVerbs, DefaultNotReadOnly)
	if err != nil {
		panic(err) // the defaults are valid; a test proves it
	}
	return r
}

// ReadOnlyOperation reports whether the operation's name starts with a read
// verb as a whole word: "GetObject" and "Query" do, "Getaway" and
// "Listen" do not.
func (r *ReadClass) ReadOnlyOperation(op string) bool {
	for _, v := range r.verbs {
		if !strings.HasPrefix(op, v) {
			continue
		}
		rest := op[len(v):]
		if rest == "" || (rest[0] >= 'A' && rest[0] <= 'Z') {
			return true
		}
	}
	return false
}

// ReadOnly reports whether an action "<prefix>:<Operation>" only reads: its
// operation is in the read class and the action is not excluded.
func (r *ReadClass) ReadOnly(action string) bool {
	_, op, ok := strings.Cut(action, ":")
	if !ok || r.exclude[action] {
		return false
	}
	return r.ReadOnlyOperation(op)
}
