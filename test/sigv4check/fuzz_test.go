package sigv4check

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzVerify: no Authorization header, date or token is accepted without
// the right signature, and nothing panics.
func FuzzVerify(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/sso-oauth/aws4_request, SignedHeaders=host;x-amz-date, Signature=00", "20260101T000000Z", "")
	f.Add("AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=, Signature=", "x", "tok")
	f.Add("Bearer abc", "", "")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	lookup := func(id string) (Caller, bool) {
		return Caller{AccessKeyID: "AKID", SecretAccessKey: "secret"}, id == "AKID"
	}
	f.Fuzz(func(t *testing.T, auth, date, token string) {
		r, err := http.NewRequest(http.MethodPost, "http://127.0.0.1/token?aws_iam=t", strings.NewReader("{}"))
		if err != nil {
			t.Skip()
		}
		r.Header.Set("Authorization", auth)
		r.Header.Set("X-Amz-Date", date)
		if token != "" {
			r.Header.Set("X-Amz-Security-Token", token)
		}
		c, ref := Verify(r, []byte("{}"), "sso-oauth", "us-east-1", now, lookup)
		if ref == nil {
			t.Fatalf("forged signature accepted as %+v", c)
		}
		if ref.Status != http.StatusForbidden || ref.Code == "" {
			t.Fatalf("refusal %+v", ref)
		}
	})
}
