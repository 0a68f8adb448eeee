package clients

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mcpguard/mcpguard/test/fakeaws"
)

// chromium finds Debian's chromium (or another Chrome). Outside CI the test
// skips without one; in CI (`make test` installs it) a missing browser fails.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium on PATH: `make test` installs Debian's chromium when missing")
	}
	t.Skip("no chromium on PATH (apt-get install chromium, or run make test)")
	return ""
}

// TestOAuthLoginInChromium is the acceptance test of the interactive login:
// the MCP TypeScript SDK's OAuth client provider connects to the quickstart,
// gets a 401, follows the protected resource metadata to the quickstart
// identity provider, registers itself and asks for a login with PKCE; a
// person (headless Chromium) picks Alice on the login page; the SDK
// exchanges the code and makes authorized tool calls (and has others
// refused) through aws___run_script and the legacy aws___call_aws, then
// refreshes its token and calls again.
func TestOAuthLoginInChromium(t *testing.T) {
	node, dir := nodeDir(t)
	browser := chromium(t)
	s := startQuickstart(t, true)

	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{filepath.Join(dir, "oauth.mjs"), s.MCPURL()}, aliceCalls...)...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Wait() }()
	lines := jsonLines(stdout)

	var authorizeURL string
	select {
	case m, ok := <-lines:
		if !ok || json.Unmarshal(m["authorize"], &authorizeURL) != nil || authorizeURL == "" {
			t.Fatalf("the client did not ask for a login: %v\n%s", m, stderr.String())
		}
	case <-ctx.Done():
		t.Fatalf("no authorization URL: %v\n%s", ctx.Err(), stderr.String())
	}
	if !strings.HasPrefix(authorizeURL, s.IdP.URL()+"/authorize?") || !strings.Contains(authorizeURL, "code_challenge_method=S256") {
		t.Fatalf("authorization URL %s: not the quickstart IdP with PKCE S256", authorizeURL)
	}

	shots := t.TempDir()
	login(t, ctx, browser, authorizeURL, shots)
	keepArtifacts(t, shots, "oauth-login")

	var rep struct {
		Error          string       `json:"error"`
		Iss            string       `json:"iss"`
		Tools          []string     `json:"tools"`
		Refresh        string       `json:"refresh"`
		RefreshRotated bool         `json:"refreshRotated"`
		TokenChanged   bool         `json:"tokenChanged"`
		Calls          []callReport `json:"calls"`
	}
	for m := range lines {
		if r, ok := m["report"]; ok {
			if err := json.Unmarshal(r, &rep); err != nil {
				t.Fatalf("report %s: %v", r, err)
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("node client: %v\n%s", err, stderr.String())
	}
	if rep.Error != "" {
		t.Fatalf("client failed: %s\n%s", rep.Error, stderr.String())
	}
	if rep.Iss != s.IdP.URL() {
		t.Errorf("iss in the redirect = %q, want %q (RFC 9207)", rep.Iss, s.IdP.URL())
	}
	if !slices.Contains(rep.Tools, fakeaws.ToolRunScript) || !slices.Contains(rep.Tools, fakeaws.ToolCallAWS) {
		t.Errorf("tools = %v", rep.Tools)
	}
	// Alice's calls, then the first of them again after the refresh.
	if len(rep.Calls) != len(aliceCalls)+1 {
		t.Fatalf("calls = %+v", rep.Calls)
	}
	checkAliceCalls(t, s, rep.Calls)
	if c := rep.Calls[len(aliceCalls)]; !listedBuckets(c) {
		t.Errorf("allowed call after the refresh = %+v", c)
	}
	if rep.Refresh != "AUTHORIZED" || !rep.RefreshRotated || !rep.TokenChanged {
		t.Errorf("refresh = %q, rotated %v, new access token %v", rep.Refresh, rep.RefreshRotated, rep.TokenChanged)
	}
	if n := s.IdP.TokensIssued(); n != 2 {
		t.Errorf("the IdP issued %d access tokens, want 2 (login, refresh)", n)
	}
	// AWS saw Alice, signed with her role, because she logged in as Alice.
	var alice int
	for _, r := range s.AWS.Requests() {
		if strings.HasPrefix(r.SessionName, "alice") {
			alice++
		}
	}
	if alice == 0 {
		t.Error("AWS saw no request signed for alice")
	}
}

// login opens the authorization URL in headless Chromium, screenshots (PNG) the
// login page, picks Alice and waits for the client's "logged in" page.
func login(t *testing.T, ctx context.Context, browser, authorizeURL, shots string) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		chromedp.NoSandbox, // root in CI containers
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(900, 700),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	var page, done []byte
	var message, result string
	err := chromedp.Run(bctx,
		chromedp.Navigate(authorizeURL),
		chromedp.WaitVisible(`#user-alice`, chromedp.ByQuery),
		chromedp.Text(`#message`, &message, chromedp.ByQuery),
		chromedp.FullScreenshot(&page, 100),
		chromedp.Click(`#user-alice`, chromedp.ByQuery),
		chromedp.WaitVisible(`#done`, chromedp.ByQuery),
		chromedp.Text(`#done`, &result, chromedp.ByQuery),
		chromedp.FullScreenshot(&done, 100),
	)
	for name, b := range map[string][]byte{"1-login-page.png": page, "2-logged-in.png": done} {
		if len(b) > 0 {
			if werr := os.WriteFile(filepath.Join(shots, name), b, 0o644); werr != nil {
				t.Errorf("screenshot %s: %v", name, werr)
			}
		}
	}
	if err != nil {
		t.Fatalf("log in as Alice in chromium: %v", err)
	}
	if !strings.Contains(message, "mcpguard-oauth-test") {
		t.Errorf("login page message %q does not name the client", message)
	}
	if !strings.Contains(result, "Logged in") {
		t.Errorf("after the login the browser shows %q", result)
	}
}
