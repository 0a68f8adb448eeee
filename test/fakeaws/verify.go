package fakeaws

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The x-amzn-ErrorType values the verifier sends.
const (
	ErrIncompleteSignature = "IncompleteSignatureException"
	ErrInvalidSignature    = "InvalidSignatureException"
	ErrExpiredToken        = "ExpiredTokenException"
	ErrUnrecognizedClient  = "UnrecognizedClientException"
)

const amzDateFormat = "20060102T150405Z"

// Messages as AWS words them.
const (
	msgSignatureMismatch = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgInvalidToken      = "The security token included in the request is invalid."
	msgExpiredToken      = "The security token included in the request is expired"
)

// awsError is a refusal in the shape of an AWS JSON service error.
type awsError struct {
	status int
	typ    string
	msg    string
}

func (e *awsError) write(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Header()["x-amzn-ErrorType"] = []string{e.typ}
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(struct {
		Message string `json:"message"`
	}{e.msg})
}

func forbidden(typ, format string, args ...any) *awsError {
	return &awsError{status: http.StatusForbidden, typ: typ, msg: fmt.Sprintf(format, args...)}
}

// authorization is a parsed SigV4 Authorization header.
type authorization struct {
	accessKeyID, date, region, service string
	signedHeaders                      string
	signature                          string
}

func parseAuthorization(h string) (authorization, *awsError) {
	const algo = "AWS4-HMAC-SHA256 "
	rest, ok := strings.CutPrefix(h, algo)
	if !ok {
		if scheme, _, _ := strings.Cut(h, " "); scheme != "" && !strings.Contains(scheme, "=") {
			return authorization{}, forbidden(ErrIncompleteSignature, "Unsupported authorization type: %s", scheme)
		}
		return authorization{}, forbidden(ErrIncompleteSignature, "Authorization header requires the AWS4-HMAC-SHA256 algorithm.")
	}
	var a authorization
	var credential string
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			credential = v
		case "SignedHeaders":
			a.signedHeaders = v
		case "Signature":
			a.signature = v
		}
	}
	var missing []string
	for _, p := range []struct{ name, v string }{{"Credential", credential}, {"Signature", a.signature}, {"SignedHeaders", a.signedHeaders}} {
		if p.v == "" {
			missing = append(missing, fmt.Sprintf("Authorization header requires '%s' parameter.", p.name))
		}
	}
	if len(missing) > 0 {
		return authorization{}, forbidden(ErrIncompleteSignature, "%s", strings.Join(missing, " "))
	}
	f := strings.Split(credential, "/")
	if len(f) != 5 || f[4] != "aws4_request" || f[0] == "" {
		return authorization{}, forbidden(ErrIncompleteSignature, "Credential should have 5 parts: 'ACCESS_KEY/YYYYMMDD/REGION/SERVICE/aws4_request'.")
	}
	a.accessKeyID, a.date, a.region, a.service = f[0], f[1], f[2], f[3]
	return a, nil
}

// verify checks r's SigV4 signature and returns the caller's credentials.
func (s *Server) verify(r *http.Request, body []byte) (Credential, *awsError) {
	values := r.Header.Values("Authorization")
	switch len(values) {
	case 0:
		return Credential{}, forbidden(ErrIncompleteSignature, "Request is missing Authentication Token")
	case 1:
	default:
		return Credential{}, forbidden(ErrIncompleteSignature, "Request must carry exactly one Authorization header.")
	}
	a, aerr := parseAuthorization(values[0])
	if aerr != nil {
		return Credential{}, aerr
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate == "" {
		return Credential{}, forbidden(ErrIncompleteSignature, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	t, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		return Credential{}, forbidden(ErrIncompleteSignature, "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
	}
	if a.date != t.Format("20060102") {
		return Credential{}, forbidden(ErrInvalidSignature, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", a.date, t.Format("20060102"), amzDate)
	}
	if a.service != s.opts.Service {
		return Credential{}, forbidden(ErrInvalidSignature, "Credential should be scoped to correct service: '%s'. ", s.opts.Service)
	}
	if a.region != s.opts.Region {
		return Credential{}, forbidden(ErrInvalidSignature, "Credential should be scoped to a valid region. ")
	}
	now := s.opts.Clock().UTC()
	if t.Before(now.Add(-s.opts.MaxSkew)) {
		return Credential{}, forbidden(ErrInvalidSignature, "Signature expired: %s is now earlier than %s (%s - %s.)",
			amzDate, now.Add(-s.opts.MaxSkew).Format(amzDateFormat), now.Format(amzDateFormat), skewText(s.opts.MaxSkew))
	}
	if t.After(now.Add(s.opts.MaxSkew)) {
		return Credential{}, forbidden(ErrInvalidSignature, "Signature not yet current: %s is still later than %s (%s + %s.)",
			amzDate, now.Add(s.opts.MaxSkew).Format(amzDateFormat), now.Format(amzDateFormat), skewText(s.opts.MaxSkew))
	}
	signed := strings.Split(a.signedHeaders, ";")
	if !contains(signed, "host") {
		return Credential{}, forbidden(ErrInvalidSignature, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}

	cred, ok := s.opts.Lookup(a.accessKeyID)
	if !ok || cred.SecretAccessKey == "" {
		return Credential{}, forbidden(ErrUnrecognizedClient, msgInvalidToken)
	}
	if !cred.Expiration.IsZero() && !now.Before(cred.Expiration) {
		return Credential{}, forbidden(ErrExpiredToken, msgExpiredToken)
	}
	token := r.Header.Values("X-Amz-Security-Token")
	switch {
	case cred.SessionToken == "" && len(token) > 0,
		cred.SessionToken != "" && (len(token) != 1 || subtle.ConstantTimeCompare([]byte(token[0]), []byte(cred.SessionToken)) != 1):
		return Credential{}, forbidden(ErrUnrecognizedClient, msgInvalidToken)
	}

	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if got := r.Header.Values("X-Amz-Content-Sha256"); len(got) > 0 && (len(got) != 1 || got[0] != payloadHash) {
		return Credential{}, forbidden(ErrInvalidSignature, "The provided 'x-amz-content-sha256' header does not match what was computed.")
	}

	want, err := recompute(r, signed, cred, payloadHash, a.service, a.region, t)
	if err != nil {
		return Credential{}, forbidden(ErrInvalidSignature, "%s", msgSignatureMismatch)
	}
	if want.signedHeaders != a.signedHeaders ||
		subtle.ConstantTimeCompare([]byte(want.signature), []byte(a.signature)) != 1 {
		return Credential{}, forbidden(ErrInvalidSignature, "%s", msgSignatureMismatch)
	}
	return cred, nil
}

// recompute signs a fresh copy of r that carries only the headers the
// client said it signed, and returns the resulting Authorization.
func recompute(r *http.Request, signed []string, cred Credential, payloadHash, service, region string, t time.Time) (authorization, error) {
	target := r.RequestURI
	if !strings.HasPrefix(target, "/") {
		target = r.URL.EscapedPath()
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
	}
	rawPath, rawQuery, _ := strings.Cut(target, "?")
	if _, err := url.ParseQuery(rawQuery); err != nil {
		return authorization{}, fmt.Errorf("parse query: %w", err)
	}
	fresh := &http.Request{
		Method: r.Method,
		URL: &url.URL{
			Scheme: "https",
			Host:   r.Host,
			// Opaque makes the SDK escape the received path bytes once
			// more, as AWS does for every service but S3.
			Opaque:   "//" + r.Host + normalizePath(rawPath),
			RawQuery: rawQuery,
		},
		Host:   r.Host,
		Header: http.Header{},
	}
	for _, name := range signed {
		switch name {
		case "host", "x-amz-date", "x-amz-security-token":
			// host comes from r.Host; the signer sets the other two from
			// the signing time and the issued credentials.
		case "content-length":
			fresh.ContentLength = r.ContentLength
		default:
			for _, v := range r.Header.Values(name) {
				fresh.Header.Add(name, v)
			}
		}
	}
	creds := aws.Credentials{AccessKeyID: cred.AccessKeyID, SecretAccessKey: cred.SecretAccessKey, SessionToken: cred.SessionToken}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, fresh, payloadHash, service, region, t); err != nil {
		return authorization{}, fmt.Errorf("sign: %w", err)
	}
	return parseAuthorizationValue(fresh.Header.Get("Authorization"))
}

func parseAuthorizationValue(h string) (authorization, error) {
	a, aerr := parseAuthorization(h)
	if aerr != nil {
		return authorization{}, fmt.Errorf("parse recomputed authorization: %s", aerr.msg)
	}
	return a, nil
}

// normalizePath removes empty and dot segments from a path as AWS does for
// every service but S3, keeping a trailing slash.
func normalizePath(p string) string {
	var segs []string
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "", ".":
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
		default:
			segs = append(segs, seg)
		}
	}
	out := "/" + strings.Join(segs, "/")
	if len(segs) > 0 && strings.HasSuffix(p, "/") {
		out += "/"
	}
	return out
}

func skewText(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%d min", int(d/time.Minute))
	}
	return d.String()
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
