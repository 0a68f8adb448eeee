package authn

import (
	"encoding/base64"
	"encoding/json"
	"testing"
)

// FuzzPeekIssuer feeds arbitrary payloads to the iss reader that routes
// tokens: it must never panic, and whenever it names an issuer, that is
// the iss encoding/json (the reader of the verified claims) sees too.
func FuzzPeekIssuer(f *testing.F) {
	f.Add("eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2EifQ.c2ln")
	f.Add("a.eyJpc3MiOiJhIiwiaXNzIjoiYiJ9.c")
	f.Add("a..c")
	f.Add("a.bnVsbA.c")
	f.Fuzz(func(t *testing.T, raw string) {
		if _, err := bearerToken(Input{Authorization: "Bearer " + raw}); err != nil {
			return
		}
		iss, err := peekIssuer(raw)
		if err != nil {
			return
		}
		first, last := indexDot(raw)
		claims, _, derr := decodeClaims(mustDecode(raw[first+1 : last]))
		if derr != nil {
			return
		}
		if got, _ := claims["iss"].(string); got != iss {
			t.Fatalf("routing reads iss %q, claims read %q", iss, got)
		}
	})
}

// FuzzClaimAt reads arbitrary paths from arbitrary JSON claims.
func FuzzClaimAt(f *testing.F) {
	f.Add(`{"realm_access":{"roles":["a"]}}`, "realm_access.roles")
	f.Add(`{"a.b":1,"a":{"b":2}}`, "a.b")
	f.Add(`{"https://x.y/g":["g"]}`, "https://x.y/g")
	f.Fuzz(func(t *testing.T, doc, path string) {
		var claims map[string]any
		if json.Unmarshal([]byte(doc), &claims) != nil {
			return
		}
		v, found, err := ClaimAt(claims, path)
		if err != nil && found {
			t.Fatal("found with an error")
		}
		if !found && v != nil {
			t.Fatal("value without found")
		}
		_, _ = listAt(claims, path)
		_, _ = scopesOf(claims, path)
	})
}

func indexDot(raw string) (int, int) {
	first, last := -1, -1
	for i := range len(raw) {
		if raw[i] == '.' {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	return first, last
}

func mustDecode(s string) []byte {
	b, err := b64.DecodeString(s)
	if err != nil {
		return nil
	}
	return b
}

var b64 = base64.RawURLEncoding
