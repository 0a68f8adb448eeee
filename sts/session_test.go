package sts

import (
	"regexp"
	"strings"
	"testing"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/authn"
)

var stsSessionRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

func TestSanitizeSessionName(t *testing.T) {
	long := strings.Repeat("abcdefghij", 10)
	tests := []struct {
		name string
		in   string
		want string // exact, or prefix when wantSuffix
		hash bool   // a hash suffix must have been added
	}{
		{"email kept", "alice@example.com", "alice@example.com", false},
		{"all allowed characters kept", "a_b+c=d,e.f@g-h", "a_b+c=d,e.f@g-h", false},
		{"exactly 64 kept", strings.Repeat("x", 64), strings.Repeat("x", 64), false},
		{"two characters kept", "ab", "ab", false},
		{"auth0 subject", "auth0|abc", "auth0-abc-", true},
		{"google subject", "google-oauth2|1234", "google-oauth2-1234-", true},
		{"spaces", "Alice Smith", "Alice-Smith-", true},
		{"unicode", "jürgen@example.com", "j-rgen@example.com-", true},
		{"emoji", "🦀", "--", true},
		{"one character", "a", "a-", true},
		{"100 characters", long, long[:51] + "-", true},
		{"65 characters", strings.Repeat("y", 65), strings.Repeat("y", 51) + "-", true},
		{"looks suffixed", "bob-0123456789ab", "bob-0123456789ab-", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SanitizeSessionName(tt.in)
			if !stsSessionRE.MatchString(got) {
				t.Fatalf("SanitizeSessionName(%q) = %q: not a valid RoleSessionName", tt.in, got)
			}
			if !tt.hash {
				if got != tt.want {
					t.Fatalf("SanitizeSessionName(%q) = %q, want %q", tt.in, got, tt.want)
				}
				return
			}
			if !strings.HasPrefix(got, tt.want) || !looksSuffixed(got) || len(got) != len(tt.want)+suffixHex {
				t.Fatalf("SanitizeSessionName(%q) = %q, want %q + %d hex digits", tt.in, got, tt.want, suffixHex)
			}
			if again := SanitizeSessionName(tt.in); again != got {
				t.Fatalf("not deterministic: %q then %q", got, again)
			}
		})
	}
}

func TestSanitizeSessionNameNoCollisions(t *testing.T) {
	long := strings.Repeat("z", 80)
	groups := [][]string{
		{"auth0|abc", "auth0:abc", "auth0 abc", "auth0/abc", "auth0-abc"},
		{long + "1", long + "2", long},
		{"a", "b", "é", "ü"},
		{"bob-0123456789ab", SanitizeSessionName("bob-0123456789ab")},
	}
	for _, g := range groups {
		seen := map[string]string{}
		for _, in := range g {
			out := SanitizeSessionName(in)
			if prev, dup := seen[out]; dup {
				t.Fatalf("%q and %q share session name %q", prev, in, out)
			}
			seen[out] = in
		}
	}
}

func TestSessionNameClaim(t *testing.T) {
	verified := map[string]any{"email_verified": true}
	tests := []struct {
		name     string
		claim    string
		verified string
		id       authn.Identity
		want     string
	}{
		{"default email verified", "", "", authn.Identity{Subject: "s-1", Email: "a@example.com", Claims: verified}, "a@example.com"},
		{"email from claims", "email", "", authn.Identity{Subject: "s-1", Claims: map[string]any{"email": "c@example.com", "email_verified": true}}, "c@example.com"},
		{"email unverified", "", "", authn.Identity{Subject: "s-1", Email: "a@example.com"}, "s-1"},
		{"email_verified false", "", "", authn.Identity{Subject: "s-1", Email: "a@example.com", Claims: map[string]any{"email_verified": false}}, "s-1"},
		{"email_verified string true", "", "", authn.Identity{Subject: "s-1", Email: "a@example.com", Claims: map[string]any{"email_verified": "true"}}, "a@example.com"},
		{"email_verified string other", "", "", authn.Identity{Subject: "s-1", Email: "a@example.com", Claims: map[string]any{"email_verified": "yes"}}, "s-1"},
		{"email_verified number", "", "", authn.Identity{Subject: "s-1", Email: "a@example.com", Claims: map[string]any{"email_verified": 1.0}}, "s-1"},
		{"configured verified claim", "email", "https://idp/verified", authn.Identity{Subject: "s-1", Email: "a@example.com", Claims: map[string]any{"https://idp/verified": true}}, "a@example.com"},
		{"configured verified claim ignores the default", "email", "https://idp/verified", authn.Identity{Subject: "s-1", Email: "a@example.com", Claims: verified}, "s-1"},
		{"email falls back to sub", "", "", authn.Identity{Subject: "user-1"}, "user-1"},
		{"sub", "sub", "", authn.Identity{Subject: "user-1", Email: "a@example.com"}, "user-1"},
		{"custom claim", "preferred_username", "", authn.Identity{Subject: "s-1", Claims: map[string]any{"preferred_username": "alice"}}, "alice"},
		{"custom claim not a string", "preferred_username", "", authn.Identity{Subject: "user-2", Claims: map[string]any{"preferred_username": 7.0}}, "user-2"},
		{"custom claim missing", "upn", "", authn.Identity{Subject: "user-3"}, "user-3"},
		{"sanitized", "sub", "", authn.Identity{Subject: "auth0|abc"}, SanitizeSessionName("auth0|abc")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sessionName(&tt.id, tt.claim, tt.verified)
			if err != nil || got != tt.want {
				t.Fatalf("sessionName = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	t.Run("no subject", func(t *testing.T) {
		_, err := sessionName(&authn.Identity{}, "", "")
		if mcpguard.KindOf(err) != mcpguard.KindUnauthenticated {
			t.Fatalf("sessionName = %v, want unauthenticated", err)
		}
	})
}

func FuzzSanitizeSessionName(f *testing.F) {
	for _, s := range []string{"", "a", "auth0|abc", "alice@example.com", strings.Repeat("é", 70), "x-0123456789ab"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := SanitizeSessionName(in)
		if !stsSessionRE.MatchString(out) {
			t.Fatalf("SanitizeSessionName(%q) = %q: invalid", in, out)
		}
		if out != in && !looksSuffixed(out) {
			t.Fatalf("SanitizeSessionName(%q) = %q: changed without a hash suffix", in, out)
		}
		if out == in && looksSuffixed(in) {
			t.Fatalf("SanitizeSessionName(%q) kept a name that looks suffixed", in)
		}
	})
}
