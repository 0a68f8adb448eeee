package sigv4

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/mcpguard/mcpguard"
)

// sign is the oracle: it signs r through aws-sdk-go-v2's signer, building
// the http.Request the SDK needs the way the package did before it
// computed canonical requests itself. extra holds additional headers to
// sign (the AWS suite's cases sign arbitrary headers). Tests compare the
// direct signer's canonical request, string to sign and Authorization with
// this one's.
func (s *Signer) sign(ctx context.Context, r Request, extra http.Header, optFns ...func(*v4.SignerOptions)) (*http.Request, error) {
	t, err := s.prepare(r)
	if err != nil {
		return nil, err
	}
	rawPath, rawQuery, _ := strings.Cut(r.Path, "?")
	if _, err := url.ParseQuery(rawQuery); err != nil {
		return nil, errQuery(err)
	}
	u := &url.URL{
		Scheme: "https",
		Host:   r.Host,
		// With Opaque set, the SDK takes the canonical URI from the bytes
		// after the host verbatim and escapes them once.
		Opaque:   "//" + r.Host + canonicalPath(rawPath),
		RawQuery: rawQuery,
	}
	req := &http.Request{
		Method: r.Method, URL: u, Host: r.Host, Header: make(http.Header, 4),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
	}
	if r.ContentType != "" {
		req.Header.Set("Content-Type", r.ContentType)
	}
	for k, vs := range extra {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	payloadHash := EmptyPayloadHash
	if len(r.Body) > 0 {
		sum := sha256.Sum256(r.Body)
		payloadHash = hex.EncodeToString(sum[:])
	}
	if !s.omitPayloadHash {
		req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	}
	if err := v4.NewSigner().SignHTTP(ctx, r.Credentials, req, payloadHash, r.Service, r.Region, t, optFns...); err != nil {
		return nil, mcpguard.E(mcpguard.KindInternal, "request signing failed", fmt.Errorf("sign request: %w", err))
	}
	return req, nil
}

// direct signs r with the package's own signer and returns its canonical
// request and string to sign as well. extra is flattened in key order of
// the map, each key's values in order, as http.Header.Add would keep them.
func (s *Signer) direct(r Request, extra http.Header) (signature, trace, error) {
	t, err := s.prepare(r)
	if err != nil {
		return signature{}, trace{}, err
	}
	var hs []Header
	for k, vs := range extra {
		for _, v := range vs {
			hs = append(hs, Header{Name: k, Value: v})
		}
	}
	var tr trace
	sig, err := s.signDirect(r, t, hs, &tr)
	return sig, tr, err
}
