package fakests

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

const (
	issuer   = "https://idp.example.com"
	audience = "aws-mcp"
	roleARN  = "arn:aws:iam::123456789012:role/S3ReadOnlyMCPRole"
	tagsRole = "arn:aws:iam::123456789012:role/team/TaggedRole"
)

var rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

type fixture struct {
	now  time.Time
	priv jwk.Key
	srv  *Server
	sts  *sts.Client
}

func signer(t *testing.T, raw any, kid string, alg jwa.SignatureAlgorithm) (jwk.Key, jwk.Key) {
	t.Helper()
	priv, err := jwk.FromRaw(raw)
	if err != nil {
		t.Fatal(err)
	}
	_ = priv.Set(jwk.KeyIDKey, kid)
	_ = priv.Set(jwk.AlgorithmKey, alg)
	pub, err := priv.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return priv, pub
}

func newFixture(t *testing.T, mutate func(*Options)) *fixture {
	t.Helper()
	f := &fixture{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	priv, pub := signer(t, rsaKey(), "k1", jwa.RS256)
	f.priv = priv
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	opts := Options{
		Keys: func(context.Context) (jwk.Set, error) { return set, nil },
		Roles: map[string]Role{
			roleARN:  {TrustedIssuer: issuer, Audiences: []string{audience}},
			tagsRole: {TrustedIssuer: issuer, Audiences: []string{"other", audience}, AllowTagSession: true, MaxSessionDuration: 12 * time.Hour},
		},
		Now: func() time.Time { return f.now },
	}
	if mutate != nil {
		mutate(&opts)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	f.srv = srv
	f.sts = sts.New(sts.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL()),
		Credentials:      aws.AnonymousCredentials{},
		RetryMaxAttempts: 1,
	})
	return f
}

func (f *fixture) token(t *testing.T, claims map[string]any) string {
	t.Helper()
	return signWith(t, f.priv, jwa.RS256, claims, f.now)
}

func signWith(t *testing.T, key jwk.Key, alg jwa.SignatureAlgorithm, claims map[string]any, now time.Time) string {
	t.Helper()
	tok := jwt.New()
	base := map[string]any{"iss": issuer, "aud": audience, "sub": "alice", "exp": now.Add(time.Hour)}
	for k, v := range claims {
		base[k] = v
	}
	for k, v := range base {
		if v == nil {
			continue
		}
		if err := tok.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	b, err := jwt.Sign(tok, jwt.WithKey(alg, key))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func input(role, name, token string) *sts.AssumeRoleWithWebIdentityInput {
	return &sts.AssumeRoleWithWebIdentityInput{RoleArn: aws.String(role), RoleSessionName: aws.String(name), WebIdentityToken: aws.String(token)}
}

func TestAssumeRoleWithWebIdentity(t *testing.T) {
	f := newFixture(t, nil)
	out, err := f.sts.AssumeRoleWithWebIdentity(t.Context(), input(roleARN, "alice@example.com", f.token(t, nil)))
	if err != nil {
		t.Fatal(err)
	}
	calls := f.srv.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d calls", len(calls))
	}
	reqID, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
	c := out.Credentials
	if reqID == "" || reqID != calls[0].RequestID || calls[0].Status != 200 || calls[0].DurationSeconds != 3600 {
		t.Fatalf("request ID %q, call %+v", reqID, calls[0])
	}
	if !strings.HasPrefix(*c.AccessKeyId, "ASIA") || len(*c.AccessKeyId) != 20 || len(*c.SecretAccessKey) != 40 || len(*c.SessionToken) < 1000 {
		t.Fatalf("credentials %+v", c)
	}
	if !c.Expiration.Equal(f.now.Add(time.Hour)) {
		t.Fatalf("expiration %v", c.Expiration)
	}
	if aws.ToString(out.SubjectFromWebIdentityToken) != "alice" || aws.ToString(out.Provider) != "idp.example.com" ||
		aws.ToString(out.Audience) != audience ||
		aws.ToString(out.AssumedRoleUser.Arn) != "arn:aws:sts::123456789012:assumed-role/S3ReadOnlyMCPRole/alice@example.com" ||
		!strings.HasPrefix(aws.ToString(out.AssumedRoleUser.AssumedRoleId), "AROA") ||
		!strings.HasSuffix(aws.ToString(out.AssumedRoleUser.AssumedRoleId), ":alice@example.com") {
		t.Fatalf("output %+v %+v", out, out.AssumedRoleUser)
	}
	issued, ok := f.srv.Issued(*c.AccessKeyId)
	if !ok || issued.SecretAccessKey != *c.SecretAccessKey || issued.SessionToken != *c.SessionToken ||
		issued.RoleARN != roleARN || issued.SessionName != "alice@example.com" || issued.Subject != "alice" ||
		issued.RequestID != reqID || !issued.Expiration.Equal(*c.Expiration) {
		t.Fatalf("Issued = %+v, %v", issued, ok)
	}
	if _, ok := f.srv.Issued("ASIAUNKNOWN"); ok {
		t.Fatal("unknown key reported as issued")
	}
}

func TestAssumeErrors(t *testing.T) {
	otherPriv, _ := signer(t, rsaKey(), "other-kid", jwa.RS256)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecPriv, _ := signer(t, ecKey, "k1", jwa.ES256)
	type call struct {
		role, name, token string
		duration          int32
		policy            string
		policyARNs        []string
	}
	tests := []struct {
		name    string
		mutate  func(*Options)
		call    func(f *fixture) call
		code    string
		status  int
		message string // exact, or prefix when it ends with "…"
	}{
		{name: "session name with pipe", call: func(f *fixture) call { return call{name: "auth0|abc", token: f.token(t, nil)} },
			code: "ValidationError", status: 400,
			message: `1 validation error detected: Value 'auth0|abc' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]*`},
		{name: "session name too short", call: func(f *fixture) call { return call{name: "a", token: f.token(t, nil)} },
			code: "ValidationError", status: 400,
			message: "1 validation error detected: Value 'a' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2"},
		{name: "session name too long", call: func(f *fixture) call { return call{name: strings.Repeat("n", 65), token: f.token(t, nil)} },
			code: "ValidationError", status: 400,
			message: "1 validation error detected: Value '" + strings.Repeat("n", 65) + "' at 'roleSessionName' failed to satisfy constraint: Member must have length less than or equal to 64"},
		{name: "two problems", call: func(f *fixture) call { return call{name: "a b", token: f.token(t, nil), duration: 100} },
			code: "ValidationError", status: 400, message: "2 validation errors detected: Value 'a b' at 'roleSessionName'…"},
		{name: "duration too short", call: func(f *fixture) call { return call{token: f.token(t, nil), duration: 899} },
			code: "ValidationError", status: 400,
			message: "1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"},
		{name: "duration too long", call: func(f *fixture) call { return call{token: f.token(t, nil), duration: 43201} },
			code: "ValidationError", status: 400,
			message: "1 validation error detected: Value '43201' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200"},
		{name: "duration above role maximum", call: func(f *fixture) call { return call{token: f.token(t, nil), duration: 3601} },
			code: "ValidationError", status: 400, message: "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."},
		{name: "role ARN too short", call: func(f *fixture) call { return call{role: "arn:aws:iam::1:r", token: f.token(t, nil)} },
			code: "ValidationError", status: 400,
			message: "1 validation error detected: Value 'arn:aws:iam::1:r' at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20"},
		{name: "role ARN malformed", call: func(f *fixture) call { return call{role: "not-an-arn-but-long-enough", token: f.token(t, nil)} },
			code: "ValidationError", status: 400, message: "Request ARN is invalid"},
		{name: "not a JWT", call: func(f *fixture) call { return call{token: "abcd.efgh"} },
			code: "InvalidIdentityToken", status: 400, message: msgNotJWT},
		{name: "unknown issuer", call: func(f *fixture) call {
			return call{token: f.token(t, map[string]any{"iss": "https://evil.example.com"})}
		},
			code: "InvalidIdentityToken", status: 400, message: "No OpenIDConnect provider found in your account for https://evil.example.com"},
		{name: "wrong audience", call: func(f *fixture) call { return call{token: f.token(t, map[string]any{"aud": "someone-else"})} },
			code: "InvalidIdentityToken", status: 400, message: msgBadAudience},
		{name: "unknown key", call: func(f *fixture) call { return call{token: signWith(t, otherPriv, jwa.RS256, nil, f.now)} },
			code: "InvalidIdentityToken", status: 400, message: "Couldn't verify…"},
		{name: "key of another algorithm", call: func(f *fixture) call { return call{token: signWith(t, ecPriv, jwa.ES256, nil, f.now)} },
			code: "InvalidIdentityToken", status: 400, message: "Couldn't verify…"},
		{name: "HS256 refused", call: func(f *fixture) call {
			k, _ := jwk.FromRaw([]byte("0123456789abcdef0123456789abcdef"))
			return call{token: signWith(t, k, jwa.HS256, nil, f.now)}
		}, code: "InvalidIdentityToken", status: 400, message: "Unsupported token signing algorithm HS256"},
		{name: "expired", call: func(f *fixture) call {
			return call{token: f.token(t, map[string]any{"exp": f.now.Add(-time.Second)})}
		}, code: "ExpiredTokenException", status: 400, message: "Token expired: current date/time 1772366400 must be before the expiration date/time 1772366399"},
		{name: "no sub", call: func(f *fixture) call { return call{token: f.token(t, map[string]any{"sub": nil})} },
			code: "InvalidIdentityToken", status: 400, message: "Missing sub claim in the token"},
		{name: "JWKS unreachable", mutate: func(o *Options) {
			o.Keys = func(context.Context) (jwk.Set, error) { return nil, errors.New("down") }
		}, call: func(f *fixture) call { return call{token: f.token(t, nil)} },
			code: "IDPCommunicationError", status: 400, message: msgNoKey},
		{name: "role unknown", call: func(f *fixture) call {
			return call{role: "arn:aws:iam::123456789012:role/Other", token: f.token(t, nil)}
		}, code: "AccessDenied", status: 403, message: msgNotAuthorized},
		{name: "nested tags without sts:TagSession", call: func(f *fixture) call {
			return call{token: f.token(t, map[string]any{"https://aws.amazon.com/tags": map[string]any{"principal_tags": map[string]any{"Groups": []any{"s3-readers"}}}})}
		}, code: "AccessDenied", status: 403, message: msgNotAuthorized},
		{name: "flattened tags without sts:TagSession", call: func(f *fixture) call {
			return call{token: f.token(t, map[string]any{"https://aws.amazon.com/tags/principal_tags/Groups": "s3-readers:Everyone"})}
		}, code: "AccessDenied", status: 403, message: msgNotAuthorized},
		{name: "multivalued tag", call: func(f *fixture) call {
			return call{role: tagsRole, token: f.token(t, map[string]any{"https://aws.amazon.com/tags": map[string]any{"principal_tags": map[string]any{"Groups": []any{"a", "b"}}}})}
		}, code: "InvalidIdentityToken", status: 400, message: "Invalid session tags…"},
		{name: "policy not JSON", call: func(f *fixture) call { return call{token: f.token(t, nil), policy: "{"} },
			code: "MalformedPolicyDocument", status: 400, message: "The policy is not in the valid JSON format."},
		{name: "policy without Effect", call: func(f *fixture) call {
			return call{token: f.token(t, nil), policy: `{"Version":"2012-10-17","Statement":[{"Action":"*"}]}`}
		}, code: "MalformedPolicyDocument", status: 400, message: "Syntax errors in policy."},
		{name: "policy without Resource", call: func(f *fixture) call {
			return call{token: f.token(t, nil), policy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject"}]}`}
		}, code: "MalformedPolicyDocument", status: 400, message: "Syntax errors in policy."},
		{name: "policy with Principal", call: func(f *fixture) call {
			return call{token: f.token(t, nil), policy: `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}}`}
		}, code: "MalformedPolicyDocument", status: 400, message: "Syntax errors in policy."},
		{name: "policy with a number as Action", call: func(f *fixture) call {
			return call{token: f.token(t, nil), policy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":[1],"Resource":"*"}]}`}
		}, code: "MalformedPolicyDocument", status: 400, message: "Syntax errors in policy."},
		{name: "policy too long", call: func(f *fixture) call {
			return call{token: f.token(t, nil), policy: strings.Repeat("x", 2049)}
		}, code: "ValidationError", status: 400, message: "1 validation error detected: Value '" + strings.Repeat("x", 2049) + "' at 'policy' failed to satisfy constraint: Member must have length less than or equal to 2048"},
		{name: "packed too large", mutate: func(o *Options) { o.PackedPolicyLimit = 50 }, call: func(f *fixture) call {
			return call{token: f.token(t, nil), policy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`}
		}, code: "PackedPolicyTooLarge", status: 400, message: "Packed size of session policies and session tags consumes 170% of allotted space, please use smaller policies and tags."},
		{name: "too many policy ARNs", call: func(f *fixture) call {
			arns := make([]string, 11)
			for i := range arns {
				arns[i] = "arn:aws:iam::aws:policy/P" + strconv.Itoa(i)
			}
			return call{token: f.token(t, nil), policyARNs: arns}
		}, code: "ValidationError", status: 400, message: "1 validation error detected: Value '11' at 'policyArns' failed to satisfy constraint: Member must have length less than or equal to 10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.mutate)
			c := tt.call(f)
			if c.role == "" {
				c.role = roleARN
			}
			if c.name == "" {
				c.name = "alice"
			}
			in := input(c.role, c.name, c.token)
			if c.duration != 0 {
				in.DurationSeconds = aws.Int32(c.duration)
			}
			if c.policy != "" {
				in.Policy = aws.String(c.policy)
			}
			for _, a := range c.policyARNs {
				in.PolicyArns = append(in.PolicyArns, types.PolicyDescriptorType{Arn: aws.String(a)})
			}
			_, err := f.sts.AssumeRoleWithWebIdentity(t.Context(), in)
			var api smithy.APIError
			if !errors.As(err, &api) {
				t.Fatalf("err = %v, want an API error", err)
			}
			msg := api.ErrorMessage()
			okMsg := msg == tt.message
			if p, ok := strings.CutSuffix(tt.message, "…"); ok {
				okMsg = strings.HasPrefix(msg, p)
			}
			if api.ErrorCode() != tt.code || !okMsg {
				t.Fatalf("error %s: %q, want %s: %q", api.ErrorCode(), msg, tt.code, tt.message)
			}
			calls := f.srv.Calls()
			if len(calls) != 1 || calls[0].Status != tt.status || calls[0].ErrorCode != tt.code {
				t.Fatalf("calls = %+v", calls)
			}
		})
	}
}

func TestSessionTagsAllowed(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.token(t, map[string]any{
		"https://aws.amazon.com/tags":                       map[string]any{"principal_tags": map[string]any{"Team": []any{"blue"}}, "transitive_tag_keys": []any{"Team"}},
		"https://aws.amazon.com/tags/principal_tags/Groups": "s3-readers:Everyone",
	})
	in := input(tagsRole, "alice", tok)
	in.DurationSeconds = aws.Int32(43200)
	out, err := f.sts.AssumeRoleWithWebIdentity(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	issued, _ := f.srv.Issued(*out.Credentials.AccessKeyId)
	if issued.SessionTags["Team"] != "blue" || issued.SessionTags["Groups"] != "s3-readers:Everyone" ||
		!issued.Expiration.Equal(f.now.Add(12*time.Hour)) ||
		aws.ToString(out.AssumedRoleUser.Arn) != "arn:aws:sts::123456789012:assumed-role/TaggedRole/alice" {
		t.Fatalf("issued %+v, out %+v", issued, out.AssumedRoleUser)
	}
	if out.PackedPolicySize == nil || *out.PackedPolicySize <= 0 { //nolint:staticcheck // STS still returns PackedPolicySize, and callers read it
		t.Fatal("PackedPolicySize missing with session tags")
	}
}

func TestCredentialLifetimeAndUniqueKeys(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.CredentialLifetime = 2 * time.Minute })
	seen := map[string]bool{}
	for range 50 {
		out, err := f.sts.AssumeRoleWithWebIdentity(t.Context(), input(roleARN, "alice", f.token(t, nil)))
		if err != nil {
			t.Fatal(err)
		}
		if seen[*out.Credentials.AccessKeyId] {
			t.Fatalf("access key %s issued twice", *out.Credentials.AccessKeyId)
		}
		seen[*out.Credentials.AccessKeyId] = true
		if !out.Credentials.Expiration.Equal(f.now.Add(2 * time.Minute)) {
			t.Fatalf("expiration %v", out.Credentials.Expiration)
		}
	}
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name  string
		setup func(s *Server)
		check func(t *testing.T, err error, elapsed time.Duration)
		fault string
	}{
		{"throttle", func(s *Server) { s.SetThrottle(1) }, func(t *testing.T, err error, _ time.Duration) {
			t.Helper()
			var api smithy.APIError
			if !errors.As(err, &api) || api.ErrorCode() != "Throttling" || api.ErrorMessage() != "Rate exceeded" {
				t.Fatalf("err = %v", err)
			}
		}, "throttle"},
		{"injected", func(s *Server) { s.InjectError(1, 403, "RegionDisabledException", "off") }, func(t *testing.T, err error, _ time.Duration) {
			t.Helper()
			var rd *types.RegionDisabledException
			if !errors.As(err, &rd) {
				t.Fatalf("err = %v", err)
			}
		}, "injected"},
		{"down", func(s *Server) { s.SetDown(true) }, func(t *testing.T, err error, _ time.Duration) {
			t.Helper()
			var api smithy.APIError
			if err == nil || errors.As(err, &api) {
				t.Fatalf("err = %v, want a transport error", err)
			}
		}, "down"},
		{"garbage", func(s *Server) { s.SetGarbage(true) }, func(t *testing.T, err error, _ time.Duration) {
			t.Helper()
			var de *smithy.DeserializationError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v, want a deserialization error", err)
			}
		}, "garbage"},
		{"latency", func(s *Server) { s.SetLatency(50 * time.Millisecond) }, func(t *testing.T, err error, d time.Duration) {
			t.Helper()
			if err != nil || d < 50*time.Millisecond {
				t.Fatalf("err = %v after %v", err, d)
			}
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			tt.setup(f.srv)
			start := time.Now()
			_, err := f.sts.AssumeRoleWithWebIdentity(t.Context(), input(roleARN, "alice", f.token(t, nil)))
			tt.check(t, err, time.Since(start))
			calls := f.srv.Calls()
			if len(calls) != 1 || calls[0].Fault != tt.fault {
				t.Fatalf("calls = %+v", calls)
			}
			// Throttles and injected errors are used up; the next call works.
			if tt.fault == "throttle" || tt.fault == "injected" {
				if _, err := f.sts.AssumeRoleWithWebIdentity(t.Context(), input(roleARN, "alice", f.token(t, nil))); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestWireFormat checks the raw Query API: operation errors and the exact
// XML shapes, independent of the SDK.
func TestWireFormat(t *testing.T) {
	f := newFixture(t, nil)
	post := func(form url.Values) (*http.Response, []byte) {
		resp, err := http.PostForm(f.srv.URL()+"/", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	tests := []struct {
		name   string
		form   url.Values
		status int
		code   string
		msg    string
	}{
		{"missing action", url.Values{"Version": {Version}}, 400, "MissingAction", "Missing Action"},
		{"wrong version", url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-16"}}, 400, "InvalidAction", "Could not find operation AssumeRoleWithWebIdentity for version 2011-06-16"},
		{"other action", url.Values{"Action": {"AssumeRole"}, "Version": {Version}}, 400, "InvalidAction", "Could not find operation AssumeRole for version 2011-06-15"},
		{"missing parameters", url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {Version}}, 400, "ValidationError",
			"3 validation errors detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null; Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null; Value null at 'webIdentityToken' failed to satisfy constraint: Member must not be null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(tt.form)
			var e errorResponse
			if err := xml.Unmarshal(body, &e); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			if resp.StatusCode != tt.status || e.Error.Code != tt.code || e.Error.Message != tt.msg || e.Error.Type != "Sender" ||
				e.XMLName.Space != xmlns || e.RequestID == "" || resp.Header.Get("x-amzn-RequestId") != e.RequestID ||
				resp.Header.Get("Content-Type") != "text/xml" {
				t.Fatalf("status %d, body %s", resp.StatusCode, body)
			}
		})
	}
	t.Run("success element order", func(t *testing.T) {
		resp, body := post(url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {Version}, "RoleArn": {roleARN},
			"RoleSessionName": {"alice"}, "WebIdentityToken": {f.token(t, nil)}})
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		var names []string
		d := xml.NewDecoder(strings.NewReader(string(body)))
		for {
			tok, err := d.Token()
			if err != nil {
				break
			}
			if se, ok := tok.(xml.StartElement); ok {
				names = append(names, se.Name.Local)
			}
		}
		want := "AssumeRoleWithWebIdentityResponse AssumeRoleWithWebIdentityResult SubjectFromWebIdentityToken Audience AssumedRoleUser Arn AssumedRoleId Credentials SessionToken SecretAccessKey Expiration AccessKeyId Provider ResponseMetadata RequestId"
		if got := strings.Join(names, " "); got != want {
			t.Fatalf("elements:\n%s\nwant\n%s", got, want)
		}
		if !strings.Contains(string(body), `<Expiration>2026-03-01T13:00:00Z</Expiration>`) {
			t.Fatalf("expiration format: %s", body)
		}
	})
}

func FuzzAssume(f *testing.F) {
	fx := &fixture{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	set := jwk.NewSet()
	srv := &Server{opts: Options{
		Keys:              func(context.Context) (jwk.Set, error) { return set, nil },
		Roles:             map[string]Role{roleARN: {TrustedIssuer: issuer, Audiences: []string{audience}}},
		PackedPolicyLimit: 2048,
		Now:               func() time.Time { return fx.now },
	}, issued: map[string]Credential{}}
	f.Add(roleARN, "alice", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln", "3600", "{}")
	f.Add("x", "auth0|abc", "....", "-1", `{"Statement":{"Effect":"Allow"}}`)
	f.Fuzz(func(t *testing.T, role, name, token, duration, policy string) {
		form := url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {Version}, "RoleArn": {role},
			"RoleSessionName": {name}, "WebIdentityToken": {token}, "DurationSeconds": {duration}, "Policy": {policy}}
		c := &Call{}
		res, apiErr := srv.assume(context.Background(), c, form)
		if (res == nil) == (apiErr == nil) {
			t.Fatalf("assume returned %v and %v", res, apiErr)
		}
		if apiErr != nil && (apiErr.code == "" || apiErr.message == "" || apiErr.status < 400) {
			t.Fatalf("bad error %+v", apiErr)
		}
		rec := httptest.NewRecorder()
		srv.writeError(rec, "id", 400, "ValidationError", name+token)
		var e errorResponse
		if err := xml.Unmarshal(rec.Body.Bytes(), &e); err != nil {
			t.Fatalf("error document does not parse: %v", err)
		}
	})
}
