package authn

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/test/fakeidp"
)

// FuzzAuthenticate feeds arbitrary Authorization values: Authenticate must
// never panic, and must either fail as unauthenticated with a known reason
// or return the identity of the one valid token it was seeded with.
func FuzzAuthenticate(f *testing.F) {
	e := newEnvAt(f, fuzzEpoch, nil)
	e.waitReady(f)
	valid := e.mint(f, e.claims("g"))
	es := e.mint(f, e.claims(), fakeidp.WithAlg(fakeidp.ES256))
	none, _ := e.idp.MintNone(e.claims())
	for _, s := range []string{
		"", "Bearer", "Bearer ", "Basic abc", "Bearer " + valid, "bearer  " + valid, "Bearer " + es,
		"Bearer " + none, "Bearer a.b.c", "Bearer ..", "Bearer " + valid + "," + valid,
		"Bearer eyJhbGciOiJSUzI1NiJ9.e30.", "Bearer eyJ9.eyJ9.eyJ9",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		id, err := e.a.Authenticate(context.Background(), Input{Authorization: header})
		if err != nil {
			if k := mcpguard.KindOf(err); k != mcpguard.KindUnauthenticated {
				t.Fatalf("kind %v for %q: %v", k, header, err)
			}
			if r := mcpguard.ReasonOf(err); !slices.Contains(Reasons(), r) {
				t.Fatalf("unknown reason %q", r)
			}
			return
		}
		if id.Subject != "alice" || (string(id.Token) != valid && string(id.Token) != es) || !strings.Contains(header, string(id.Token)) {
			t.Fatalf("accepted %q as %+v", header, id)
		}
	})
}

// FuzzAuthenticateClaims signs arbitrary claim sets with the real issuer
// key, so claim decoding and validation (odd types, huge or negative
// numbers) are exercised behind a valid signature. Its clock is fixed at
// fuzzEpoch, so corpus entries (testdata/fuzz) keep reproducing.
func FuzzAuthenticateClaims(f *testing.F) {
	e := newEnvAt(f, fuzzEpoch, func(o *Options) { o.CacheSize = -1; o.RequiredClaims = []string{"email"} })
	e.waitReady(f)
	now := e.clk.Now().Unix()
	f.Add(`{"sub":"alice","aud":"mcp","exp":1e300}`, now)
	f.Add(`{"sub":"alice","aud":["mcp",1],"exp":-1,"nbf":"x"}`, now)
	f.Add(`{"sub":7,"aud":"mcp","iat":1e20,"groups":{"a":1}}`, now)
	f.Add(`{"sub":"alice","aud":"mcp","email":["x"],"groups":"a:b"}`, now+10)
	f.Add(`{"sub":"alice","aud":"mcp","email":"a@example.com","groups":["a",1]}`, now+10)
	f.Fuzz(func(t *testing.T, doc string, exp int64) {
		var claims map[string]any
		if json.Unmarshal([]byte(doc), &claims) != nil || claims == nil {
			return
		}
		claims["iss"] = e.idp.URL()
		if _, ok := claims["exp"]; !ok {
			claims["exp"] = exp
		}
		tok, err := e.idp.Mint(claims, fakeidp.WithAlg(fakeidp.ES256))
		if err != nil {
			return
		}
		id, err := e.a.Authenticate(context.Background(), Input{Authorization: "Bearer " + tok})
		if err != nil {
			if mcpguard.KindOf(err) != mcpguard.KindUnauthenticated || !slices.Contains(Reasons(), mcpguard.ReasonOf(err)) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if id.Subject == "" || len(id.Subject) > MaxClaimBytes || id.Issuer == "" || !id.ExpiresAt.After(e.clk.Now()) || string(id.Token) != tok {
			t.Fatalf("accepted bad identity %+v", id)
		}
		if email, _ := id.Claims["email"].(string); email == "" {
			t.Fatalf("accepted a token without the required email claim: %+v", id.Claims)
		}
	})
}

// FuzzMetadataAgreement: in envoy_metadata mode an arbitrary jwt_authn
// payload next to a genuine token is either refused as unauthenticated or
// agrees with the verified token, and the identity is always the verified
// token's, never the payload's.
func FuzzMetadataAgreement(f *testing.F) {
	e := newEnv(f, func(o *Options) { o.TokenSource = SourceEnvoyMetadata })
	e.waitReady(f)
	claims := e.claims("g")
	tok := e.mint(f, claims)
	exp := claims["exp"].(int64)
	good, _ := json.Marshal(map[string]any{"iss": claims["iss"], "sub": "alice", "aud": testAudience, "exp": exp})
	f.Add(string(good))
	f.Add(`{"iss":"` + e.idp.URL() + `","sub":"bob","aud":"mcp","exp":` + strconv.FormatInt(exp, 10) + `}`)
	f.Add(`{"iss":"` + e.idp.URL() + `","sub":"alice","aud":["mcp","x"],"exp":` + strconv.FormatInt(exp, 10) + `}`)
	f.Add(`{"sub":"alice"}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, payload string) {
		var md map[string]any
		if json.Unmarshal([]byte(payload), &md) != nil {
			return
		}
		id, err := e.a.Authenticate(context.Background(), Input{Authorization: "Bearer " + tok, Metadata: map[string]any{DefaultMetadataKey: md}})
		if err != nil {
			if k := mcpguard.KindOf(err); k != mcpguard.KindUnauthenticated {
				t.Fatalf("kind %v: %v", k, err)
			}
			return
		}
		if id.Subject != "alice" || string(id.Token) != tok || md["sub"] != "alice" || md["iss"] != claims["iss"] {
			t.Fatalf("payload %s accepted as %+v", payload, id)
		}
	})
}
