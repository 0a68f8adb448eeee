package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// This file is an independent SigV4 verifier written from the specification
// ("Create a canonical request", "Create a string to sign", "Calculate the
// signature"), used only to check what Sign produces. It shares no code with
// the package or the SDK.

// wireRequest is a request as the AWS service receives it.
type wireRequest struct {
	method string
	host   string
	path   string // the :path, query included
	header http.Header
	body   []byte
}

// outgoing applies a signing Result to the client's headers the way Envoy
// does with extproc's mutation: the client's x-amz-* headers removed first,
// then sets replacing existing values.
func outgoing(method, host, path string, client http.Header, body []byte, res Result) wireRequest {
	h := client.Clone()
	if h == nil {
		h = http.Header{}
	}
	for n := range h {
		if strings.HasPrefix(strings.ToLower(n), "x-amz-") {
			h.Del(n)
		}
	}
	for _, s := range res.Set {
		h.Set(s.Name, s.Value)
	}
	return wireRequest{method: method, host: host, path: path, header: h, body: body}
}

type parsedAuthz struct {
	keyID, date, region, service string
	signedHeaders                []string
	signature                    string
}

func parseAuthz(v string) (parsedAuthz, error) {
	rest, ok := strings.CutPrefix(v, "AWS4-HMAC-SHA256 ")
	if !ok {
		return parsedAuthz{}, fmt.Errorf("algorithm")
	}
	var p parsedAuthz
	for _, part := range strings.Split(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return parsedAuthz{}, fmt.Errorf("part %q", part)
		}
		switch k {
		case "Credential":
			f := strings.Split(val, "/")
			if len(f) != 5 || f[4] != "aws4_request" {
				return parsedAuthz{}, fmt.Errorf("credential %q", val)
			}
			p.keyID, p.date, p.region, p.service = f[0], f[1], f[2], f[3]
		case "SignedHeaders":
			p.signedHeaders = strings.Split(val, ";")
		case "Signature":
			p.signature = val
		}
	}
	return p, nil
}

func specEncode(s string, keepSlash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' || (keepSlash && c == '/') {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// specNormalize removes empty and dot segments as the specification asks
// for non-S3 services.
func specNormalize(p string) string {
	var out []string
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, seg)
		}
	}
	r := "/" + strings.Join(out, "/")
	if strings.HasSuffix(p, "/") && len(out) > 0 {
		r += "/"
	}
	return r
}

func specQuery(raw string) (string, error) {
	type kv struct{ k, v string }
	var kvs []kv
	for _, pair := range strings.Split(raw, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		dk, err := url.QueryUnescape(k)
		if err != nil {
			return "", err
		}
		dv, err := url.QueryUnescape(v)
		if err != nil {
			return "", err
		}
		kvs = append(kvs, kv{specEncode(dk, false), specEncode(dv, false)})
	}
	sort.Slice(kvs, func(i, j int) bool {
		if kvs[i].k != kvs[j].k {
			return kvs[i].k < kvs[j].k
		}
		return kvs[i].v < kvs[j].v
	})
	parts := make([]string, len(kvs))
	for i, p := range kvs {
		parts[i] = p.k + "=" + p.v
	}
	return strings.Join(parts, "&"), nil
}

func trimAll(v string) string { return strings.Join(strings.Fields(v), " ") }

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// specVerify checks r's signature over exactly the headers its
// Authorization names, as an AWS service would.
func specVerify(r wireRequest, secret string) error {
	a, err := parseAuthz(r.header.Get("Authorization"))
	if err != nil {
		return fmt.Errorf("parse authorization: %w", err)
	}
	amzDate := r.header.Get("X-Amz-Date")
	if !strings.HasPrefix(amzDate, a.date) {
		return fmt.Errorf("scope date %s vs %s", a.date, amzDate)
	}
	if _, err := time.Parse("20060102T150405Z", amzDate); err != nil {
		return fmt.Errorf("x-amz-date: %w", err)
	}
	rawPath, rawQuery, _ := strings.Cut(r.path, "?")
	q, err := specQuery(rawQuery)
	if err != nil {
		return err
	}
	var ch strings.Builder
	for _, n := range a.signedHeaders {
		var vals []string
		if n == "host" {
			vals = []string{r.host}
		} else {
			vals = r.header.Values(n)
		}
		if len(vals) == 0 {
			return fmt.Errorf("signed header %s missing", n)
		}
		for i := range vals {
			vals[i] = trimAll(vals[i])
		}
		ch.WriteString(n + ":" + strings.Join(vals, ",") + "\n")
	}
	sum := sha256.Sum256(r.body)
	payload := hex.EncodeToString(sum[:])
	if got := r.header.Get("X-Amz-Content-Sha256"); got != "" && got != payload {
		return fmt.Errorf("x-amz-content-sha256 does not match the body")
	}
	creq := strings.Join([]string{
		r.method,
		specEncode(specNormalize(rawPath), true),
		q,
		ch.String(),
		strings.Join(a.signedHeaders, ";"),
		payload,
	}, "\n")
	scope := a.date + "/" + a.region + "/" + a.service + "/aws4_request"
	ch2 := sha256.Sum256([]byte(creq))
	sts := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(ch2[:])
	k := hmacSHA256([]byte("AWS4"+secret), a.date)
	k = hmacSHA256(k, a.region)
	k = hmacSHA256(k, a.service)
	k = hmacSHA256(k, "aws4_request")
	want := hex.EncodeToString(hmacSHA256(k, sts))
	if !hmac.Equal([]byte(want), []byte(a.signature)) {
		return fmt.Errorf("signature mismatch; canonical request:\n%s", creq)
	}
	return nil
}
