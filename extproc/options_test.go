package extproc

import (
	"strings"
	"testing"
	"time"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/authz"
	"github.com/mcpguard/mcpguard/mcp"
	"github.com/mcpguard/mcpguard/sigv4"
)

// TestNewRequiresEveryStage shows that a Server missing any stage is a
// construction error naming the stage, not a failure on some later request.
func TestNewRequiresEveryStage(t *testing.T) {
	full := func() Options {
		return Options{
			Authn: fakeAuthn{}, Authz: &fakeAuthz{}, Visibility: &fakeAuthz{}, Creds: &fakeCreds{},
			Signer:   sigv4.New(sigv4.Options{}),
			Upstream: Upstream{Host: "aws-mcp.us-east-1.api.aws", Region: "us-east-1", Service: "aws-mcp"},
		}
	}
	tests := []struct {
		name string
		mod  func(*Options)
		want string // "" means New succeeds
	}{
		{"complete", func(*Options) {}, ""},
		{"deny all", func(o *Options) { o.Authz, o.Visibility = DenyAll{}, DenyAll{} }, ""},
		{"no authenticator", func(o *Options) { o.Authn = nil }, "Authn"},
		{"no authorizer", func(o *Options) { o.Authz = nil }, "Authz"},
		{"no visibility", func(o *Options) { o.Visibility = nil }, "Visibility"},
		{"no credential source", func(o *Options) { o.Creds = nil }, "Creds"},
		{"no signer", func(o *Options) { o.Signer = nil }, "Signer"},
		{"no upstream host", func(o *Options) { o.Upstream.Host = "" }, "upstream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := full()
			tt.mod(&o)
			_, err := New(o)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("New error %v, want one naming %q", err, tt.want)
			}
		})
	}
}

// TestDenyAll shows the no-policy stage refuses with 403 and hides every
// listed item.
func TestDenyAll(t *testing.T) {
	id := &authn.Identity{Subject: "alice"}
	_, err := DenyAll{}.Authorize(t.Context(), id, authzRequest())
	if mcpguard.KindOf(err) != mcpguard.KindForbidden {
		t.Fatalf("Authorize error %v, want forbidden", err)
	}
	vis, err := DenyAll{}.Visible(t.Context(), id, visibilityRequest())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"aws___call_aws", "", "x"} {
		if vis(mcp.ListItem{Name: name}) {
			t.Errorf("%q visible under DenyAll", name)
		}
	}
}

// TestRetryAfterTravelsOnTheError shows the 503's Retry-After comes from
// the error's hint, rounded up to whole seconds, also when an outer error
// wraps the one that carries it, and the default otherwise.
func TestRetryAfterTravelsOnTheError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"hint", &mcpguard.Error{Kind: mcpguard.KindCredentialsUnavailable, Msg: "m", RetryAfter: 2 * time.Second}, "2"},
		{"rounded up", &mcpguard.Error{Kind: mcpguard.KindCredentialsUnavailable, Msg: "m", RetryAfter: 1500 * time.Millisecond}, "2"},
		{"wrapped", mcpguard.E(mcpguard.KindCredentialsUnavailable, "outer",
			&mcpguard.Error{Kind: mcpguard.KindCredentialsUnavailable, Msg: "inner", RetryAfter: 7 * time.Second}), "7"},
		{"default", mcpguard.E(mcpguard.KindCredentialsUnavailable, "m", nil), "5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := immediate(denial{err: tt.err}).GetImmediateResponse()
			if r.GetStatus().GetCode() != 503 {
				t.Fatalf("status %d", r.GetStatus().GetCode())
			}
			var got string
			for _, h := range r.GetHeaders().GetSetHeaders() {
				if h.GetHeader().GetKey() == "retry-after" {
					got = string(h.GetHeader().GetRawValue())
				}
			}
			if got != tt.want {
				t.Fatalf("retry-after %q, want %q", got, tt.want)
			}
		})
	}
}

func authzRequest() authz.Request { return authz.Request{HTTPMethod: "POST"} }

func visibilityRequest() authz.VisibilityRequest { return authz.VisibilityRequest{} }

// stagedOptions are Options with every required stage, for tests that
// exercise one part of an exchange directly.
func stagedOptions(u Upstream) Options {
	return Options{Authn: fakeAuthn{}, Authz: &fakeAuthz{}, Visibility: &fakeAuthz{}, Creds: &fakeCreds{},
		Signer: sigv4.New(sigv4.Options{}), Upstream: u}
}
