package sigv4check

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const maxSkew = 5 * time.Minute

// Caller is an IAM principal's credentials.
type Caller struct {
	AccessKeyID, SecretAccessKey, SessionToken string
	// PrincipalARN is the IAM principal the credentials belong to.
	PrincipalARN string
	Expiration   time.Time
}

// Refusal is AWS's answer to a request whose signature does not verify:
// HTTP 403 and an error code such as InvalidSignatureException.
type Refusal struct {
	Status  int
	Code    string
	Message string
}

func sigError(typ, msg string) *Refusal {
	return &Refusal{Status: http.StatusForbidden, Code: typ, Message: msg}
}

type sigv4Auth struct {
	accessKeyID, date, region, service, signedHeaders, signature string
}

func parseAuth(h string) (sigv4Auth, bool) {
	rest, ok := strings.CutPrefix(h, "AWS4-HMAC-SHA256 ")
	if !ok {
		return sigv4Auth{}, false
	}
	var a sigv4Auth
	var cred string
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			cred = v
		case "SignedHeaders":
			a.signedHeaders = v
		case "Signature":
			a.signature = v
		}
	}
	f := strings.Split(cred, "/")
	if len(f) != 5 || f[4] != "aws4_request" || f[0] == "" || a.signedHeaders == "" || a.signature == "" {
		return sigv4Auth{}, false
	}
	a.accessKeyID, a.date, a.region, a.service = f[0], f[1], f[2], f[3]
	return a, true
}

// Verify checks r's SigV4 signature for service in region against the
// credentials lookup finds, at time now, and returns the caller, refusing
// as AWS does (403 with MissingAuthenticationTokenException,
// IncompleteSignatureException, InvalidSignatureException,
// UnrecognizedClientException or ExpiredTokenException).
func Verify(r *http.Request, body []byte, service, region string, now time.Time, lookup func(accessKeyID string) (Caller, bool)) (Caller, *Refusal) {
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return Caller{}, sigError("MissingAuthenticationTokenException", "Missing Authentication Token")
	}
	a, ok := parseAuth(values[0])
	if len(values) != 1 || !ok {
		return Caller{}, sigError("IncompleteSignatureException", "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.")
	}
	t, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil || a.date != t.Format("20060102") {
		return Caller{}, sigError("IncompleteSignatureException", "X-Amz-Date must be in the ISO8601 Long Format and match the credential scope.")
	}
	if a.service != service || a.region != region {
		return Caller{}, sigError("InvalidSignatureException", "Credential should be scoped to a valid region and service.")
	}
	now = now.UTC()
	if t.Before(now.Add(-maxSkew)) || t.After(now.Add(maxSkew)) {
		return Caller{}, sigError("InvalidSignatureException", "Signature expired or not yet current.")
	}
	signed := strings.Split(a.signedHeaders, ";")
	if !slices.Contains(signed, "host") {
		return Caller{}, sigError("InvalidSignatureException", "'Host' must be a 'SignedHeader' in the AWS Authorization.")
	}
	caller, ok := lookup(a.accessKeyID)
	if !ok || caller.SecretAccessKey == "" {
		return Caller{}, sigError("UnrecognizedClientException", "The security token included in the request is invalid.")
	}
	if !caller.Expiration.IsZero() && !now.Before(caller.Expiration) {
		return Caller{}, sigError("ExpiredTokenException", "The security token included in the request is expired")
	}
	token := r.Header.Values("X-Amz-Security-Token")
	if (caller.SessionToken == "" && len(token) > 0) ||
		(caller.SessionToken != "" && (len(token) != 1 || subtle.ConstantTimeCompare([]byte(token[0]), []byte(caller.SessionToken)) != 1)) {
		return Caller{}, sigError("UnrecognizedClientException", "The security token included in the request is invalid.")
	}
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if got := r.Header.Values("X-Amz-Content-Sha256"); len(got) > 0 && (len(got) != 1 || got[0] != payloadHash) {
		return Caller{}, sigError("InvalidSignatureException", "The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	fresh := &http.Request{
		Method: r.Method,
		URL:    &url.URL{Scheme: "https", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery},
		Host:   r.Host,
		Header: http.Header{},
	}
	for _, name := range signed {
		switch name {
		case "host", "x-amz-date", "x-amz-security-token":
		case "content-length":
			fresh.ContentLength = r.ContentLength
		default:
			for _, v := range r.Header.Values(name) {
				fresh.Header.Add(name, v)
			}
		}
	}
	creds := aws.Credentials{AccessKeyID: caller.AccessKeyID, SecretAccessKey: caller.SecretAccessKey, SessionToken: caller.SessionToken}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, fresh, payloadHash, a.service, a.region, t); err != nil {
		return Caller{}, sigError("InvalidSignatureException", "The request signature we calculated does not match the signature you provided.")
	}
	want, ok := parseAuth(fresh.Header.Get("Authorization"))
	if !ok || want.signedHeaders != a.signedHeaders || subtle.ConstantTimeCompare([]byte(want.signature), []byte(a.signature)) != 1 {
		return Caller{}, sigError("InvalidSignatureException", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return caller, nil
}
