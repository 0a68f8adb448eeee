package fakests

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// apiError is an AWS error answer.
type apiError struct {
	status  int
	code    string
	message string
}

func sender(code, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: code, message: fmt.Sprintf(format, args...)}
}

// Messages as AWS words them.
const (
	msgNotAuthorized = "Not authorized to perform sts:AssumeRoleWithWebIdentity"
	msgNotJWT        = "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)"
	msgNoKey         = "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements"
	msgBadAudience   = "Incorrect token audience"
	msgMaxDuration   = "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
)

const (
	tagsClaim          = "https://aws.amazon.com/tags"
	flatPrincipalTags  = tagsClaim + "/principal_tags/"
	defaultMaxDuration = time.Hour
)

var sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]*$`)

// algorithms STS accepts for web identity tokens.
var algorithms = []jwa.SignatureAlgorithm{jwa.RS256, jwa.RS384, jwa.RS512, jwa.ES256, jwa.ES384, jwa.ES512}

type result struct {
	cred     Credential
	provider string
	audience string
	packed   int
}

// assume validates one AssumeRoleWithWebIdentity call in AWS's order:
// operation, parameters, token, trust policy, duration, policies.
func (s *Server) assume(ctx context.Context, c *Call, f map[string][]string) (*result, *apiError) {
	get := func(k string) (string, bool) {
		v, ok := f[k]
		if !ok || len(v) == 0 {
			return "", false
		}
		return v[0], true
	}
	if c.Action == "" {
		return nil, sender("MissingAction", "Missing Action")
	}
	if c.Action != "AssumeRoleWithWebIdentity" || c.Version != Version {
		return nil, sender("InvalidAction", "Could not find operation %s for version %s", c.Action, c.Version)
	}

	var problems []string
	token, hasToken := get("WebIdentityToken")
	_, hasName := get("RoleSessionName")
	_, hasRole := get("RoleArn")
	constraint := func(value, field, rule string) {
		problems = append(problems, fmt.Sprintf("Value %s at '%s' failed to satisfy constraint: Member %s", value, field, rule))
	}
	quoted := func(v string) string { return "'" + v + "'" }
	switch {
	case !hasRole:
		constraint("null", "roleArn", "must not be null")
	case len(c.RoleARN) < 20:
		constraint(quoted(c.RoleARN), "roleArn", "must have length greater than or equal to 20")
	case len(c.RoleARN) > 2048:
		constraint(quoted(c.RoleARN), "roleArn", "must have length less than or equal to 2048")
	}
	n := c.RoleSessionName
	switch {
	case !hasName:
		constraint("null", "roleSessionName", "must not be null")
	default:
		if !sessionNameRE.MatchString(n) {
			constraint(quoted(n), "roleSessionName", `must satisfy regular expression pattern: [\w+=,.@-]*`)
		}
		if l := utf8.RuneCountInString(n); l < 2 {
			constraint(quoted(n), "roleSessionName", "must have length greater than or equal to 2")
		} else if l > 64 {
			constraint(quoted(n), "roleSessionName", "must have length less than or equal to 64")
		}
	}
	switch {
	case !hasToken:
		constraint("null", "webIdentityToken", "must not be null")
	case len(token) < 4:
		problems = append(problems, "Value at 'webIdentityToken' failed to satisfy constraint: Member must have length greater than or equal to 4")
	case len(token) > 20000:
		problems = append(problems, "Value at 'webIdentityToken' failed to satisfy constraint: Member must have length less than or equal to 20000")
	}
	c.DurationSeconds = 3600
	if d, ok := get("DurationSeconds"); ok {
		v, err := strconv.Atoi(d)
		switch {
		case err != nil:
			return nil, sender("MalformedInput", "Invalid value for DurationSeconds: %s", d)
		case v < 900:
			constraint(quoted(d), "durationSeconds", "must have value greater than or equal to 900")
		case v > 43200:
			constraint(quoted(d), "durationSeconds", "must have value less than or equal to 43200")
		}
		c.DurationSeconds = v
	}
	if len(c.Policy) > 2048 {
		constraint(quoted(c.Policy), "policy", "must have length less than or equal to 2048")
	}
	if len(c.PolicyARNs) > 10 {
		constraint("'"+strconv.Itoa(len(c.PolicyARNs))+"'", "policyArns", "must have length less than or equal to 10")
	}
	if len(problems) > 0 {
		word := "error"
		if len(problems) > 1 {
			word = "errors"
		}
		return nil, sender("ValidationError", "%d validation %s detected: %s", len(problems), word, strings.Join(problems, "; "))
	}
	roleARN, err := arn.Parse(c.RoleARN)
	if err != nil || roleARN.Service != "iam" || !strings.HasPrefix(roleARN.Resource, "role/") {
		return nil, sender("ValidationError", "Request ARN is invalid")
	}
	for _, p := range c.PolicyARNs {
		if _, err := arn.Parse(p); err != nil {
			return nil, sender("ValidationError", "Request ARN is invalid")
		}
	}

	tok, apiErr := s.verifyToken(ctx, token)
	if apiErr != nil {
		return nil, apiErr
	}
	c.Subject, c.Issuer = tok.Subject(), tok.Issuer()
	tags, hasTags, apiErr := sessionTags(tok)
	if apiErr != nil {
		return nil, apiErr
	}
	c.SessionTags = tags

	role, ok := s.opts.Roles[c.RoleARN]
	if !ok || !role.trusts(tok.Issuer()) || !intersects(role.Audiences, tok.Audience()) {
		return nil, &apiError{status: http.StatusForbidden, code: "AccessDenied", message: msgNotAuthorized}
	}
	if hasTags && !role.AllowTagSession {
		return nil, &apiError{status: http.StatusForbidden, code: "AccessDenied", message: msgNotAuthorized}
	}
	maxDur := role.MaxSessionDuration
	if maxDur == 0 {
		maxDur = defaultMaxDuration
	}
	if time.Duration(c.DurationSeconds)*time.Second > maxDur {
		return nil, sender("ValidationError", msgMaxDuration)
	}
	if c.Policy != "" {
		if apiErr := checkPolicy(c.Policy); apiErr != nil {
			return nil, apiErr
		}
	}
	packed := len(c.Policy)
	for _, p := range c.PolicyARNs {
		packed += len(p)
	}
	for k, v := range tags {
		packed += len(k) + len(v)
	}
	pct := packed * 100 / s.opts.PackedPolicyLimit
	if pct > 100 {
		return nil, sender("PackedPolicyTooLarge",
			"Packed size of session policies and session tags consumes %d%% of allotted space, please use smaller policies and tags.", pct)
	}

	now := s.opts.Now()
	life := time.Duration(c.DurationSeconds) * time.Second
	if s.opts.CredentialLifetime > 0 {
		life = s.opts.CredentialLifetime
	}
	roleName := roleARN.Resource[strings.LastIndexByte(roleARN.Resource, '/')+1:]
	res := &result{
		provider: strings.TrimPrefix(tok.Issuer(), "https://"),
		audience: firstCommon(role.Audiences, tok.Audience()),
		packed:   pct,
		cred: Credential{
			AccessKeyID:     newAccessKeyID(),
			SecretAccessKey: newSecretKey(),
			SessionToken:    newSessionToken(),
			RoleARN:         c.RoleARN,
			AssumedRoleARN:  fmt.Sprintf("arn:%s:sts::%s:assumed-role/%s/%s", roleARN.Partition, roleARN.AccountID, roleName, c.RoleSessionName),
			SessionName:     c.RoleSessionName,
			Subject:         tok.Subject(),
			Issuer:          tok.Issuer(),
			SessionTags:     tags,
			Expiration:      now.Add(life).UTC().Truncate(time.Second),
			RequestID:       c.RequestID,
			SessionPolicy:   c.Policy,
			PolicyARNs:      slices.Clone(c.PolicyARNs),
		},
	}
	return res, nil
}

// verifyToken checks the JWT as STS does: a parsable JWT, a known OIDC
// provider, a key from its JWKS, the signature, expiry and audience.
func (s *Server) verifyToken(ctx context.Context, token string) (jwt.Token, *apiError) {
	invalid := func(msg string) *apiError { return sender("InvalidIdentityToken", "%s", msg) }
	msg, err := jws.Parse([]byte(token))
	if err != nil || len(msg.Signatures()) != 1 {
		return nil, invalid(msgNotJWT)
	}
	if alg := msg.Signatures()[0].ProtectedHeaders().Algorithm(); !slices.Contains(algorithms, alg) {
		return nil, invalid("Unsupported token signing algorithm " + alg.String())
	}
	unverified, err := jwt.ParseInsecure([]byte(token))
	if err != nil {
		return nil, invalid(msgNotJWT)
	}
	iss := unverified.Issuer()
	var audiences []string
	known := false
	for _, r := range s.opts.Roles {
		if r.trusts(iss) {
			known = true
			audiences = append(audiences, r.Audiences...)
		}
	}
	if iss == "" || !known {
		return nil, invalid("No OpenIDConnect provider found in your account for " + iss)
	}
	set, err := s.keysFor(ctx, iss)
	if err != nil {
		return nil, sender("IDPCommunicationError", msgNoKey)
	}
	tok, err := jwt.Parse([]byte(token), jwt.WithKeySet(set, jws.WithInferAlgorithmFromKey(true)), jwt.WithValidate(false))
	if err != nil {
		return nil, invalid("Couldn't verify the signature of the token with the keys of your identity provider")
	}
	now := s.opts.Now()
	if tok.Expiration().IsZero() {
		return nil, invalid("Missing exp claim in the token")
	}
	if !now.Before(tok.Expiration()) {
		return nil, sender("ExpiredTokenException", "Token expired: current date/time %d must be before the expiration date/time %d",
			now.Unix(), tok.Expiration().Unix())
	}
	if tok.Subject() == "" {
		return nil, invalid("Missing sub claim in the token")
	}
	if !intersects(audiences, tok.Audience()) {
		return nil, invalid(msgBadAudience)
	}
	return tok, nil
}

func (s *Server) keys(ctx context.Context) (jwk.Set, error) {
	if s.opts.Keys != nil {
		return s.opts.Keys(ctx)
	}
	set, err := jwk.Fetch(ctx, s.opts.JWKSURL, jwk.WithHTTPClient(s.opts.HTTPClient))
	if err != nil {
		return nil, fmt.Errorf("fetch jwks: %w", err)
	}
	return set, nil
}

// sessionTags reads the session tags of a token, nested
// (https://aws.amazon.com/tags → principal_tags → key → [value]) or
// flattened (https://aws.amazon.com/tags/principal_tags/<key>: value).
// Multivalued tags are refused, as STS refuses them.
func sessionTags(tok jwt.Token) (map[string]string, bool, *apiError) {
	tags := map[string]string{}
	present := false
	bad := sender("InvalidIdentityToken", "Invalid session tags in the token: each session tag needs a single string value")
	for k, v := range tok.PrivateClaims() {
		switch {
		case k == tagsClaim:
			present = true
			obj, ok := v.(map[string]any)
			if !ok {
				return nil, true, bad
			}
			principal, _ := obj["principal_tags"].(map[string]any)
			for tk, tv := range principal {
				switch tv := tv.(type) {
				case string:
					tags[tk] = tv
				case []any:
					s, ok := singleString(tv)
					if !ok {
						return nil, true, bad
					}
					tags[tk] = s
				default:
					return nil, true, bad
				}
			}
		case strings.HasPrefix(k, flatPrincipalTags):
			present = true
			sv, ok := v.(string)
			if !ok {
				return nil, true, bad
			}
			tags[strings.TrimPrefix(k, flatPrincipalTags)] = sv
		case strings.HasPrefix(k, tagsClaim+"/"):
			present = true
		}
	}
	if len(tags) > 50 {
		return nil, true, sender("InvalidIdentityToken", "The token carries more than 50 session tags")
	}
	return tags, present, nil
}

func singleString(v []any) (string, bool) {
	if len(v) != 1 {
		return "", false
	}
	s, ok := v[0].(string)
	return s, ok
}

// checkPolicy accepts what IAM's grammar needs at least: a JSON object
// with Statement, each statement with Effect Allow or Deny.
func checkPolicy(policy string) *apiError {
	var doc map[string]any
	if err := json.Unmarshal([]byte(policy), &doc); err != nil {
		return sender("MalformedPolicyDocument", "The policy is not in the valid JSON format.")
	}
	var stmts []any
	switch st := doc["Statement"].(type) {
	case []any:
		stmts = st
	case map[string]any:
		stmts = []any{st}
	default:
		return sender("MalformedPolicyDocument", "Syntax errors in policy.")
	}
	if v, ok := doc["Version"]; ok && v != "2012-10-17" && v != "2008-10-17" {
		return sender("MalformedPolicyDocument", "The policy failed legacy parsing")
	}
	for _, st := range stmts {
		m, ok := st.(map[string]any)
		if !ok || (m["Effect"] != "Allow" && m["Effect"] != "Deny") {
			return sender("MalformedPolicyDocument", "Syntax errors in policy.")
		}
		// IAM needs exactly one of Action/NotAction and of
		// Resource/NotResource, each a string or a list of strings, and
		// refuses a Principal in a session policy.
		_, a := m["Action"]
		_, na := m["NotAction"]
		_, r := m["Resource"]
		_, nr := m["NotResource"]
		_, p := m["Principal"]
		_, np := m["NotPrincipal"]
		if a == na || r == nr || p || np {
			return sender("MalformedPolicyDocument", "Syntax errors in policy.")
		}
		for _, k := range []string{"Action", "NotAction", "Resource", "NotResource"} {
			if v, ok := m[k]; ok && !stringOrStrings(v) {
				return sender("MalformedPolicyDocument", "Syntax errors in policy.")
			}
		}
	}
	return nil
}

func stringOrStrings(v any) bool {
	switch v := v.(type) {
	case string:
		return v != ""
	case []any:
		for _, e := range v {
			if s, ok := e.(string); !ok || s == "" {
				return false
			}
		}
		return len(v) > 0
	}
	return false
}

func intersects(a, b []string) bool { return firstCommon(a, b) != "" }

func firstCommon(a, b []string) string {
	for _, x := range b {
		if x != "" && slices.Contains(a, x) {
			return x
		}
	}
	return ""
}

// The success document, in the element order AWS uses.
type assumeResponse struct {
	XMLName xml.Name `xml:"AssumeRoleWithWebIdentityResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		SubjectFromWebIdentityToken string `xml:"SubjectFromWebIdentityToken"`
		Audience                    string `xml:"Audience"`
		AssumedRoleUser             struct {
			Arn           string `xml:"Arn"`
			AssumedRoleID string `xml:"AssumedRoleId"`
		} `xml:"AssumedRoleUser"`
		Credentials struct {
			SessionToken    string `xml:"SessionToken"`
			SecretAccessKey string `xml:"SecretAccessKey"`
			Expiration      string `xml:"Expiration"`
			AccessKeyID     string `xml:"AccessKeyId"`
		} `xml:"Credentials"`
		PackedPolicySize *int   `xml:"PackedPolicySize,omitempty"`
		Provider         string `xml:"Provider"`
	} `xml:"AssumeRoleWithWebIdentityResult"`
	ResponseMetadata struct {
		RequestID string `xml:"RequestId"`
	} `xml:"ResponseMetadata"`
}

func (r *result) response(requestID string) assumeResponse {
	var a assumeResponse
	a.Xmlns = xmlns
	a.Result.SubjectFromWebIdentityToken = r.cred.Subject
	a.Result.Audience = r.audience
	a.Result.AssumedRoleUser.Arn = r.cred.AssumedRoleARN
	a.Result.AssumedRoleUser.AssumedRoleID = roleID(r.cred.RoleARN) + ":" + r.cred.SessionName
	a.Result.Credentials.SessionToken = r.cred.SessionToken
	a.Result.Credentials.SecretAccessKey = r.cred.SecretAccessKey
	a.Result.Credentials.Expiration = r.cred.Expiration.Format(time.RFC3339)
	a.Result.Credentials.AccessKeyID = r.cred.AccessKeyID
	if r.packed > 0 {
		p := r.packed
		a.Result.PackedPolicySize = &p
	}
	a.Result.Provider = r.provider
	a.ResponseMetadata.RequestID = requestID
	return a
}
