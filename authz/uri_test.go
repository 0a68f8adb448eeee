package authz

import (
	"strings"
	"testing"

	"github.com/mcpguard/mcpguard"
)

func TestNormalizeURI(t *testing.T) {
	tests := []struct {
		raw, want string // want "" means refused
	}{
		{"file:///var/log/app.log", "file:///var/log/app.log"},
		{"FILE:///var/log/app.log", "file:///var/log/app.log"},
		{"HTTPS://Docs.Example.COM/Guide", "https://docs.example.com/Guide"},
		{"s3://User@Bucket.Example/Key", "s3://User@bucket.example/Key"},
		{"s3://bucket/a%20b", "s3://bucket/a%20b"},
		{"s3://bucket/a?x=%2F#frag", "s3://bucket/a?x=%2F#frag"},
		{"urn:aws:thing:Id", "urn:aws:thing:Id"},
		{"mem:notes", "mem:notes"},
		{"file:///docs/caf\u00e9.md", "file:///docs/caf\u00e9.md"},
		{"file:///etc/../etc/passwd", ""},
		{"file:///etc/./passwd", ""},
		{"file:///public/..", ""},
		{"file:///public/%2e%2e/secret", ""},
		{"file:///public/%2E%2E/secret", ""},
		{"file:///public/.%2E/secret", ""},
		{"file:///public/%2e/secret", ""},
		{"s3://%73ecret/key", ""},
		{"s3://bucket/%6Bey", ""},
		{"s3://bucket/a%2Fb", ""},
		{"s3://bucket/a%2fb", ""},
		{"s3://bucket/a%5Cb", ""},
		{`s3://bucket/a\b`, ""},
		{"s3://bucket/a%zz", ""},
		{"s3://bucket/a%", ""},
		{"s3://bucket/a b", ""},
		{"s3://bucket/a\x00", ""},
		{"s3://bucket/a\u00a0b", ""},
		{"s3://bucket/a\u200bb", ""},
		{"s3://bucket/\xff", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := normalizeURI(tt.raw)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("normalizeURI(%q) = %q, want refusal", tt.raw, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("normalizeURI(%q) = %q, %v; want %q", tt.raw, got, err, tt.want)
			}
		})
	}
}

// TestResourceMethodsSeeTheURI: every URI-taking method is authorized on
// Resource::"<normalized uri>", with uri and normalized_uri, and a forbid
// on the normal form cannot be dodged by case or encoding.
func TestResourceMethodsSeeTheURI(t *testing.T) {
	policies := map[string]string{"p.cedar": `
		@id("read-docs") permit(principal, action in [Action::"resources/read", Action::"resources/subscribe", Action::"resources/unsubscribe"], resource)
		when { resource has normalized_uri && resource.normalized_uri like "file:///docs/*" };
		@id("no-secret") forbid(principal, action, resource == Resource::"file:///docs/secret.md");
		@id("no-raw-upper") forbid(principal, action, resource)
		when { resource has uri && resource.uri like "FILE:*" && resource.normalized_uri like "file:///docs/private/*" };
	`}
	a := newTestAuthorizer(t, policies, nil)
	tests := []struct {
		method, uri string
		allow       bool
		kind        mcpguard.Kind // set when refused before policy
	}{
		{"resources/read", "file:///docs/a.md", true, 0},
		{"resources/subscribe", "file:///docs/a.md", true, 0},
		{"resources/unsubscribe", "file:///docs/a.md", true, 0},
		{"resources/read", "FILE:///docs/a.md", true, 0},
		{"resources/read", "file:///docs/secret.md", false, 0},
		{"resources/read", "FILE:///docs/secret.md", false, 0},
		{"resources/subscribe", "File:///docs/secret.md", false, 0},
		{"resources/read", "FILE:///docs/private/x", false, 0},
		{"resources/read", "file:///docs/../etc/passwd", false, mcpguard.KindInvalidRequest},
		{"resources/read", "file:///docs/%73ecret.md", false, mcpguard.KindInvalidRequest},
		{"resources/subscribe", "file:///docs/x/%2e%2e/secret.md", false, mcpguard.KindInvalidRequest},
		{"resources/read", "file:///etc/passwd", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.uri, func(t *testing.T) {
			m := request(tt.method, `{"uri":"`+tt.uri+`"}`)
			d, err := a.Authorize(t.Context(), ident("alice"), post(m))
			if tt.kind != 0 {
				if mcpguard.KindOf(err) != tt.kind {
					t.Fatalf("err = %v, want kind %v", err, tt.kind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow != tt.allow {
				t.Fatalf("allow = %v (policies %v), want %v", d.Allow, d.Policies, tt.allow)
			}
		})
	}
}

// FuzzNormalizeURI: an accepted URI differs from its normal form only in
// letter case (scheme and host), the normal form is a fixed point, and it
// holds no dot segment and no encoded slash, backslash or unreserved
// character.
func FuzzNormalizeURI(f *testing.F) {
	for _, s := range []string{"file:///a/b", "FILE:///a/../b", "s3://%73ecret/k", "HTTPS://Host.Example/P?q=%2F#f", "urn:x:y", "s3://b/a%2Fb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		norm, err := normalizeURI(raw)
		if err != nil {
			return
		}
		if len(norm) != len(raw) || !strings.EqualFold(norm, raw) {
			t.Fatalf("%q normalized to %q: more than case changed", raw, norm)
		}
		if again, err := normalizeURI(norm); err != nil || again != norm {
			t.Fatalf("normal form %q is not a fixed point: %q, %v", norm, again, err)
		}
		pathPart, _, _ := strings.Cut(norm, "#")
		pathPart, _, _ = strings.Cut(pathPart, "?")
		if i := schemeEnd(pathPart); i > 0 {
			pathPart = pathPart[i+1:]
		}
		if rest, ok := strings.CutPrefix(pathPart, "//"); ok {
			pathPart = ""
			if j := strings.IndexByte(rest, '/'); j >= 0 {
				pathPart = rest[j:]
			}
		}
		for seg := range strings.SplitSeq(pathPart, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("accepted a dot segment: %q", raw)
			}
		}
		for i := 0; i+2 < len(norm); i++ {
			if norm[i] == '%' && isHexDigit(norm[i+1]) && isHexDigit(norm[i+2]) && isUnreservedByte(hexValue(norm[i+1])<<4|hexValue(norm[i+2])) {
				t.Fatalf("accepted an encoded unreserved character: %q", raw)
			}
		}
	})
}

// TestCompletionIsAuthorizedOnWhatItCompletes: completion/complete is
// decided on the prompt or the resource template it completes, so a forbid
// on a resource or prompt covers completions of it, and a reference the
// gateway cannot name is refused before policy.
func TestCompletionIsAuthorizedOnWhatItCompletes(t *testing.T) {
	policies := map[string]string{"p.cedar": `
		@id("complete") permit(principal, action == Action::"completion/complete", resource);
		@id("no-secret-templates") forbid(principal, action, resource)
		when { resource has normalized_uri && resource.normalized_uri like "secret://*" };
		@id("no-admin-prompt") forbid(principal, action, resource == Prompt::"admin");
	`}
	a := newTestAuthorizer(t, policies, nil)
	const arg = `,"argument":{"name":"a","value":"x"}`
	tests := []struct {
		name, ref string
		allow     bool
		resource  string
		kind      mcpguard.Kind
	}{
		{"prompt", `{"type":"ref/prompt","name":"review"}`, true, `Prompt::"review"`, 0},
		{"forbidden prompt", `{"type":"ref/prompt","name":"admin"}`, false, `Prompt::"admin"`, 0},
		{"template", `{"type":"ref/resource","uri":"file:///docs/{name}"}`, true, `Resource::"file:///docs/{name}"`, 0},
		{"forbidden template", `{"type":"ref/resource","uri":"secret://{key}"}`, false, `Resource::"secret://{key}"`, 0},
		{"forbidden template, upper-case scheme", `{"type":"ref/resource","uri":"SECRET://{key}"}`, false, `Resource::"secret://{key}"`, 0},
		{"template with a dot segment", `{"type":"ref/resource","uri":"file:///docs/../{x}"}`, false, "", mcpguard.KindInvalidRequest},
		{"unknown reference type", `{"type":"ref/tool","name":"t"}`, false, "", mcpguard.KindInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := a.Authorize(t.Context(), ident("alice"), post(request("completion/complete", `{"ref":`+tt.ref+arg+`}`)))
			if tt.kind != 0 {
				if mcpguard.KindOf(err) != tt.kind {
					t.Fatalf("err = %v, want kind %v", err, tt.kind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow != tt.allow || len(d.Items) != 1 || d.Items[0].Resource != tt.resource {
				t.Fatalf("decision %+v, want allow %v on %s", d, tt.allow, tt.resource)
			}
		})
	}
}
