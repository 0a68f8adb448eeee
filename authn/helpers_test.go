package authn

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/test/fakeidp"
)

const testAudience = "mcp"

// fakeClock is a hand-written clock shared by the issuer and the
// authenticator, so expiry is tested without sleeping.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Now().Truncate(time.Second)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	idp *fakeidp.IdP
	clk *fakeClock
	a   *Authenticator
}

// newEnv starts an issuer and an authenticator for it. mut may adjust the
// options; the authenticator is waited on until ready unless the issuer is
// down.
func newEnv(tb testing.TB, mut func(*Options), idpOpts ...fakeidp.Option) *env {
	tb.Helper()
	return newEnvAt(tb, time.Now().Truncate(time.Second), mut, idpOpts...)
}

// fuzzEpoch is the fixed time of the fuzz targets' clock: a saved crasher
// (whose exp, nbf and iat are absolute) must reproduce forever, not only
// until the wall clock passes them.
var fuzzEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// newEnvAt is newEnv with the clock of issuer and authenticator starting
// at start.
func newEnvAt(tb testing.TB, start time.Time, mut func(*Options), idpOpts ...fakeidp.Option) *env {
	tb.Helper()
	clk := &fakeClock{t: start}
	idp, err := fakeidp.New(append(idpOpts, fakeidp.WithClock(clk.Now))...)
	if err != nil {
		tb.Fatalf("start idp: %v", err)
	}
	tb.Cleanup(func() { _ = idp.Close() })
	e := &env{idp: idp, clk: clk}
	o := Options{
		Issuer:    idp.URL(),
		Audiences: []string{testAudience},
		Now:       clk.Now,
		Resource:  "https://mcp.example.com/mcp",
	}
	if mut != nil {
		mut(&o)
	}
	a, err := New(tb.Context(), o)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(a.Close)
	e.a = a
	return e
}

func (e *env) waitReady(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !e.a.Ready() {
		if time.Now().After(deadline) {
			tb.Fatal("authenticator never became ready")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *env) claims(groups ...string) map[string]any {
	return e.idp.Claims("alice", testAudience, groups...)
}

func (e *env) mint(tb testing.TB, claims map[string]any, opts ...fakeidp.MintOption) string {
	tb.Helper()
	tok, err := e.idp.Mint(claims, opts...)
	if err != nil {
		tb.Fatalf("mint: %v", err)
	}
	return tok
}

func (e *env) auth(tok string) (*Identity, error) {
	return e.a.Authenticate(context.Background(), Input{Authorization: "Bearer " + tok})
}

func wantReason(tb testing.TB, err error, reason string) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("want error with reason %q, got nil", reason)
	}
	var me *mcpguard.Error
	if !errors.As(err, &me) {
		tb.Fatalf("error %v is not *mcpguard.Error", err)
	}
	if me.Kind != mcpguard.KindUnauthenticated {
		tb.Errorf("kind = %v, want unauthenticated", me.Kind)
	}
	if me.Reason != reason {
		tb.Errorf("reason = %q (%v), want %q", me.Reason, err, reason)
	}
	if me.Msg == "" {
		tb.Error("empty safe message")
	}
}
