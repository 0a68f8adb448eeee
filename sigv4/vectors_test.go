package sigv4

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/logging"
)

// The AWS SigV4 test suite's fixed configuration.
const (
	suiteDir     = "testdata/aws-sigv4-testsuite"
	suiteKeyID   = "AKIDEXAMPLE"
	suiteSecret  = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	suiteRegion  = "us-east-1"
	suiteService = "service"
)

// vector is one case of the suite: the request, and AWS's canonical
// request, string to sign and Authorization header for it.
type vector struct {
	name             string
	req              Request
	extra            http.Header
	creq, sts, authz string
}

// canonicalCapture receives the SDK's signing log, which carries the
// canonical request and string to sign as its first two arguments.
type canonicalCapture struct{ creq, sts string }

func (c *canonicalCapture) Logf(_ logging.Classification, _ string, v ...any) {
	if len(v) >= 2 {
		c.creq, _ = v[0].(string)
		c.sts, _ = v[1].(string)
	}
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	var out []vector
	err := filepath.WalkDir(suiteDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(p, ".req") {
			return err
		}
		base := strings.TrimSuffix(p, ".req")
		read := func(ext string) string {
			b, err := os.ReadFile(base + ext)
			if err != nil {
				t.Fatalf("read %s%s: %v", base, ext, err)
			}
			return string(b)
		}
		v, err := parseVector(read(".req"), read(".creq"))
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		v.name = strings.TrimPrefix(filepath.ToSlash(base), suiteDir+"/")
		v.creq, v.sts, v.authz = read(".creq"), read(".sts"), read(".authz")
		out = append(out, v)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 30 {
		t.Fatalf("found %d vectors, want the whole suite", len(out))
	}
	return out
}

// parseVector reads a .req file into a Request. Host, X-Amz-Date,
// X-Amz-Security-Token and Content-Type map onto Request fields, the way
// mcpguard receives them; other headers go to extra. Folded header lines are
// unfolded with a space, as an HTTP recipient must. The suite case
// get-vanilla-with-session-token names its token only in the .creq.
func parseVector(req, creq string) (vector, error) {
	head, body, _ := strings.Cut(req, "\n\n")
	lines := strings.Split(head, "\n")
	method, rest, ok := strings.Cut(lines[0], " ")
	if !ok || !strings.HasSuffix(rest, " HTTP/1.1") {
		return vector{}, fmt.Errorf("bad request line %q", lines[0])
	}
	v := vector{
		req: Request{
			Method:      method,
			Path:        strings.TrimSuffix(rest, " HTTP/1.1"),
			Body:        []byte(body),
			Credentials: aws.Credentials{AccessKeyID: suiteKeyID, SecretAccessKey: suiteSecret},
			Region:      suiteRegion,
			Service:     suiteService,
		},
		extra: http.Header{},
	}
	var names, values []string
	for _, l := range lines[1:] {
		if l == "" {
			continue
		}
		if (l[0] == ' ' || l[0] == '\t') && len(values) > 0 {
			values[len(values)-1] += " " + l
			continue
		}
		n, val, ok := strings.Cut(l, ":")
		if !ok {
			return vector{}, fmt.Errorf("bad header line %q", l)
		}
		names, values = append(names, n), append(values, val)
	}
	for i, n := range names {
		switch strings.ToLower(n) {
		case "host":
			v.req.Host = values[i]
		case "x-amz-date":
			t, err := time.Parse("20060102T150405Z", values[i])
			if err != nil {
				return vector{}, err
			}
			v.req.Time = t
		case "x-amz-security-token":
			v.req.Credentials.SessionToken = values[i]
		case "content-type":
			v.req.ContentType = values[i]
		default:
			v.extra.Add(n, values[i])
		}
	}
	if v.req.Credentials.SessionToken == "" {
		sc := bufio.NewScanner(strings.NewReader(creq))
		for sc.Scan() {
			if tok, ok := strings.CutPrefix(sc.Text(), "x-amz-security-token:"); ok {
				v.req.Credentials.SessionToken = tok
			}
		}
	}
	return v, nil
}

// TestAWSSuite signs every case of AWS's SigV4 test suite through the same
// request construction Sign uses and compares the SDK's canonical request,
// string to sign and Authorization with AWS's. The suite predates
// x-amz-content-sha256, so the header is omitted as the suite's
// configuration requires.
func TestAWSSuite(t *testing.T) {
	s := New(Options{OmitPayloadHashHeader: true})
	for _, v := range loadVectors(t) {
		t.Run(v.name, func(t *testing.T) {
			var c canonicalCapture
			signed, err := s.sign(context.Background(), v.req, v.extra, func(o *v4.SignerOptions) {
				o.LogSigning = true
				o.Logger = &c
			})
			if err != nil {
				t.Fatalf("sign: %v", err)
			}
			if c.creq != v.creq {
				t.Errorf("canonical request:\n%s\nwant:\n%s", c.creq, v.creq)
			}
			if c.sts != v.sts {
				t.Errorf("string to sign:\n%s\nwant:\n%s", c.sts, v.sts)
			}
			if got := signed.Header.Get("Authorization"); got != v.authz {
				t.Errorf("authorization:\n%s\nwant:\n%s", got, v.authz)
			}
		})
	}
}

// TestAWSSuiteDirect computes every case of the suite, extra headers
// included, with the package's own canonicalisation and compares the
// canonical request, string to sign and Authorization with AWS's.
func TestAWSSuiteDirect(t *testing.T) {
	s := New(Options{OmitPayloadHashHeader: true})
	n := 0
	for _, v := range loadVectors(t) {
		n++
		t.Run(v.name, func(t *testing.T) {
			sig, tr, err := s.direct(v.req, v.extra)
			if err != nil {
				t.Fatalf("sign: %v", err)
			}
			if tr.creq != v.creq {
				t.Errorf("canonical request:\n%s\nwant:\n%s", tr.creq, v.creq)
			}
			if tr.sts != v.sts {
				t.Errorf("string to sign:\n%s\nwant:\n%s", tr.sts, v.sts)
			}
			if sig.authorization != v.authz {
				t.Errorf("authorization:\n%s\nwant:\n%s", sig.authorization, v.authz)
			}
		})
	}
	t.Logf("%d suite cases", n)
}

// TestAWSSuiteThroughSign replays the suite cases that use only headers
// mcpguard signs through the exported Sign, checking the returned
// Authorization byte for byte.
func TestAWSSuiteThroughSign(t *testing.T) {
	s := New(Options{OmitPayloadHashHeader: true})
	n := 0
	for _, v := range loadVectors(t) {
		if len(v.extra) > 0 {
			continue
		}
		n++
		t.Run(v.name, func(t *testing.T) {
			res, err := s.Sign(t.Context(), v.req)
			if err != nil {
				t.Fatalf("sign: %v", err)
			}
			if got := res.Set[0]; got.Name != HeaderAuthorization || got.Value != v.authz {
				t.Errorf("authorization %q, want %q", got.Value, v.authz)
			}
		})
	}
	if n < 20 {
		t.Fatalf("only %d suite cases without extra headers", n)
	}
}
