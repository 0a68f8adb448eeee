package fakests

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws/arn"

	"github.com/mcpguard/mcpguard/test/sigv4check"
)

// IdentityCenterProvider is the only context provider STS accepts in
// ProvidedContexts for trusted identity propagation.
const IdentityCenterProvider = "arn:aws:iam::aws:contextProvider/IdentityCenter"

// AssumeRoleTrust is the part of a role's trust policy that AssumeRole
// (signed by an IAM principal) checks.
type AssumeRoleTrust struct {
	// Principals are the IAM principal ARNs allowed sts:AssumeRole.
	Principals []string
	// AllowSetContext grants those principals sts:SetContext, without
	// which a request with ProvidedContexts is refused.
	AllowSetContext bool
}

// ProvidedContext is one ProvidedContexts member a call carried.
type ProvidedContext struct {
	ProviderARN, ContextAssertion string
}

// assumeRole answers a SigV4-signed AssumeRole call: signature, parameters,
// trust (sts:AssumeRole, and sts:SetContext when contexts are provided),
// provider ARN and the context assertion.
func (s *Server) assumeRole(r *http.Request, body []byte, c *Call, f map[string][]string) (*Credential, *apiError) {
	caller, ref := sigv4check.Verify(r, body, "sts", s.opts.Region, s.opts.SignatureClock(), s.opts.Callers)
	if ref != nil {
		return nil, &apiError{status: ref.Status, code: ref.Code, message: ref.Message}
	}
	c.Caller = caller.PrincipalARN
	get := func(k string) string {
		if v := f[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	var problems []string
	if n := len(c.RoleARN); n < 20 || n > 2048 {
		problems = append(problems, fmt.Sprintf("Value '%s' at 'roleArn' failed to satisfy constraint: Member must have length between 20 and 2048", c.RoleARN))
	}
	if n := utf8.RuneCountInString(c.RoleSessionName); n < 2 || n > 64 || !sessionNameRE.MatchString(c.RoleSessionName) {
		problems = append(problems, fmt.Sprintf("Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]* and have length between 2 and 64", c.RoleSessionName))
	}
	for i := 1; ; i++ {
		p, a := get(fmt.Sprintf("ProvidedContexts.member.%d.ProviderArn", i)), get(fmt.Sprintf("ProvidedContexts.member.%d.ContextAssertion", i))
		if p == "" && a == "" {
			break
		}
		c.ProvidedContexts = append(c.ProvidedContexts, ProvidedContext{ProviderARN: p, ContextAssertion: a})
		if n := len(a); n < 4 || n > 2048 {
			problems = append(problems, fmt.Sprintf("Value at 'providedContexts.%d.member.contextAssertion' failed to satisfy constraint: Member must have length between 4 and 2048", i))
		}
	}
	if len(c.ProvidedContexts) > 5 {
		problems = append(problems, "Value at 'providedContexts' failed to satisfy constraint: Member must have length less than or equal to 5")
	}
	c.DurationSeconds = 3600
	if d := get("DurationSeconds"); d != "" {
		v, err := strconv.Atoi(d)
		if err != nil || v < 900 || v > 43200 {
			problems = append(problems, fmt.Sprintf("Value '%s' at 'durationSeconds' failed to satisfy constraint: Member must be between 900 and 43200", d))
		}
		c.DurationSeconds = v
	}
	if len(problems) > 0 {
		return nil, sender("ValidationError", "%d validation error(s) detected: %s", len(problems), strings.Join(problems, "; "))
	}
	roleARN, err := arn.Parse(c.RoleARN)
	if err != nil || roleARN.Service != "iam" || !strings.HasPrefix(roleARN.Resource, "role/") {
		return nil, sender("ValidationError", "Request ARN is invalid")
	}
	denied := func(action string) *apiError {
		return &apiError{status: http.StatusForbidden, code: "AccessDenied", message: fmt.Sprintf(
			"User: %s is not authorized to perform: %s on resource: %s", caller.PrincipalARN, action, c.RoleARN)}
	}
	trust, ok := s.opts.AssumeRoleTrust[c.RoleARN]
	if !ok || !slices.Contains(trust.Principals, caller.PrincipalARN) {
		return nil, denied("sts:AssumeRole")
	}
	if len(c.ProvidedContexts) > 0 && !trust.AllowSetContext {
		return nil, denied("sts:SetContext")
	}
	for _, pc := range c.ProvidedContexts {
		if pc.ProviderARN != IdentityCenterProvider {
			return nil, sender("InvalidParameterValue", "Invalid context provider ARN: %s", pc.ProviderARN)
		}
		user, ok := "", false
		if s.opts.IdentityContexts != nil {
			user, ok = s.opts.IdentityContexts(pc.ContextAssertion)
		}
		if !ok {
			return nil, sender("InvalidParameterValue", "The provided context assertion is invalid or expired")
		}
		c.ContextUser = user
	}
	life := time.Duration(c.DurationSeconds) * time.Second
	if s.opts.CredentialLifetime > 0 {
		life = s.opts.CredentialLifetime
	}
	roleName := roleARN.Resource[strings.LastIndexByte(roleARN.Resource, '/')+1:]
	return &Credential{
		AccessKeyID: newAccessKeyID(), SecretAccessKey: newSecretKey(), SessionToken: newSessionToken(),
		RoleARN:        c.RoleARN,
		AssumedRoleARN: fmt.Sprintf("arn:%s:sts::%s:assumed-role/%s/%s", roleARN.Partition, roleARN.AccountID, roleName, c.RoleSessionName),
		SessionName:    c.RoleSessionName,
		ContextUser:    c.ContextUser,
		Expiration:     s.opts.Now().Add(life).UTC().Truncate(time.Second),
		RequestID:      c.RequestID,
	}, nil
}

// assumeRoleResponse is AssumeRole's success document.
type assumeRoleResponse struct {
	XMLName xml.Name `xml:"AssumeRoleResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		AssumedRoleUser struct {
			Arn           string `xml:"Arn"`
			AssumedRoleID string `xml:"AssumedRoleId"`
		} `xml:"AssumedRoleUser"`
		Credentials struct {
			SessionToken    string `xml:"SessionToken"`
			SecretAccessKey string `xml:"SecretAccessKey"`
			Expiration      string `xml:"Expiration"`
			AccessKeyID     string `xml:"AccessKeyId"`
		} `xml:"Credentials"`
	} `xml:"AssumeRoleResult"`
	ResponseMetadata struct {
		RequestID string `xml:"RequestId"`
	} `xml:"ResponseMetadata"`
}

func assumeRoleDocument(c *Credential, requestID string) assumeRoleResponse {
	var a assumeRoleResponse
	a.Xmlns = xmlns
	a.Result.AssumedRoleUser.Arn = c.AssumedRoleARN
	a.Result.AssumedRoleUser.AssumedRoleID = roleID(c.RoleARN) + ":" + c.SessionName
	a.Result.Credentials.SessionToken = c.SessionToken
	a.Result.Credentials.SecretAccessKey = c.SecretAccessKey
	a.Result.Credentials.Expiration = c.Expiration.Format(time.RFC3339)
	a.Result.Credentials.AccessKeyID = c.AccessKeyID
	a.ResponseMetadata.RequestID = requestID
	return a
}
