package authz

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// reloadRecorder is a hand-written OnReload hook.
type reloadRecorder struct {
	mu    sync.Mutex
	calls []error // nil for success
}

func (r *reloadRecorder) hook(ok bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ok != (err == nil) {
		panic("OnReload: ok and err disagree")
	}
	r.calls = append(r.calls, err)
}

func (r *reloadRecorder) snapshot() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.calls...)
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const (
	allowPing = `@id("ping") permit(principal, action == Action::"ping", resource);`
	allowList = `@id("list") permit(principal, action == Action::"tools/list", resource);`
)

func TestReload(t *testing.T) {
	tests := []struct {
		name     string
		newText  string
		wantErr  bool
		pingOK   bool
		listOK   bool
		wantLogs string
	}{
		{name: "good set swaps", newText: allowList, pingOK: false, listOK: true, wantLogs: "authz policies reloaded"},
		{name: "broken set keeps the old one", newText: "permit(principal, action resource);", wantErr: true, pingOK: true, listOK: false,
			wantLogs: "keeping the policies in force"},
		{name: "duplicate ids keep the old one", newText: allowPing + "\n" + allowPing, wantErr: true, pingOK: true, listOK: false,
			wantLogs: "duplicate policy id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &reloadRecorder{}
			var logs syncBuffer
			var dir string
			a := newTestAuthorizer(t, map[string]string{"p.cedar": allowPing}, func(d string, o *Options) {
				dir = d
				o.OnReload = rec.hook
				o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			})
			if err := os.WriteFile(filepath.Join(dir, "p.cedar"), []byte(tt.newText), 0o600); err != nil {
				t.Fatal(err)
			}
			err := a.Reload()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Reload err = %v, wantErr %v", err, tt.wantErr)
			}
			calls := rec.snapshot()
			if len(calls) != 1 || (calls[0] != nil) != tt.wantErr {
				t.Fatalf("OnReload calls = %v", calls)
			}
			if got := authorize(t, a, ident("a"), post(request("ping", ""))).Allow; got != tt.pingOK {
				t.Fatalf("ping allowed = %v, want %v", got, tt.pingOK)
			}
			if got := authorize(t, a, ident("a"), post(request("tools/list", ""))).Allow; got != tt.listOK {
				t.Fatalf("tools/list allowed = %v, want %v", got, tt.listOK)
			}
			if !strings.Contains(logs.String(), tt.wantLogs) {
				t.Fatalf("logs %q do not contain %q", logs.String(), tt.wantLogs)
			}
		})
	}
}

// pollDriver replaces the reload ticker: poll runs exactly n polls and
// returns when they are done, so tests never sleep.
type pollDriver struct {
	ticks chan time.Time
	done  chan struct{}
}

func newPollDriver() *pollDriver {
	return &pollDriver{ticks: make(chan time.Time), done: make(chan struct{}, 1)}
}

func (d *pollDriver) options(o *Options) {
	o.ReloadTicks = d.ticks
	o.OnPoll = func() { d.done <- struct{}{} }
}

func (d *pollDriver) poll(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case d.ticks <- time.Now():
		case <-time.After(5 * time.Second):
			t.Fatal("the watcher does not take ticks")
		}
		select {
		case <-d.done:
		case <-time.After(5 * time.Second):
			t.Fatal("poll did not finish")
		}
	}
}

// settle is the two polls a change needs: files must hold still for one
// tick before they are read.
func (d *pollDriver) settle(t *testing.T) {
	t.Helper()
	d.poll(t, 2)
}

func TestPollingReload(t *testing.T) {
	rec := &reloadRecorder{}
	drv := newPollDriver()
	dir := writeFiles(t, map[string]string{"a.cedar": allowPing})
	o := Options{
		PolicyFiles: []string{filepath.Join(dir, "*.cedar")},
		ServerHost:  testHost,
		OnReload:    rec.hook,
	}
	drv.options(&o)
	a, err := New(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	allowed := func(method string) bool {
		return authorize(t, a, ident("a"), post(request(method, ""))).Allow
	}

	// A new file matching the glob is picked up, once it held still.
	if err := os.WriteFile(filepath.Join(dir, "b.cedar"), []byte(allowList), 0o600); err != nil {
		t.Fatal(err)
	}
	drv.poll(t, 1)
	if allowed("tools/list") {
		t.Fatal("a file seen changing on one tick was loaded at once")
	}
	drv.poll(t, 1)
	if !allowed("tools/list") || !allowed("ping") {
		t.Fatal("new file not loaded")
	}

	// A broken edit is rejected once and the last good set stays.
	if err := os.WriteFile(filepath.Join(dir, "b.cedar"), []byte("permit("), 0o600); err != nil {
		t.Fatal(err)
	}
	drv.settle(t)
	drv.poll(t, 3) // several more ticks
	if c := rec.snapshot(); len(c) != 2 || c[1] == nil {
		t.Fatalf("reloads %v: want the broken set reported once", c)
	}
	if !allowed("tools/list") || !allowed("ping") {
		t.Fatal("last good set not in force")
	}

	// Fixing it swaps again; touching without change does not reload.
	if err := os.WriteFile(filepath.Join(dir, "b.cedar"), []byte(`@id("list2") permit(principal, action == Action::"prompts/list", resource);`), 0o600); err != nil {
		t.Fatal(err)
	}
	drv.settle(t)
	if !allowed("prompts/list") || allowed("tools/list") {
		t.Fatal("fixed set not in force")
	}
	n := len(rec.snapshot())
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "b.cedar"), future, future); err != nil {
		t.Fatal(err)
	}
	drv.poll(t, 3)
	if got := len(rec.snapshot()); got != n {
		t.Fatalf("touching an unchanged file reloaded (%d → %d calls)", n, got)
	}

	// Removing every matching file is rejected too.
	for _, f := range []string{"a.cedar", "b.cedar"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	drv.settle(t)
	if c := rec.snapshot(); len(c) != n+1 || c[n] == nil {
		t.Fatalf("reloads %v: want the vanished files rejected", c)
	}
	if !allowed("prompts/list") {
		t.Fatal("last good set not in force after files vanished")
	}
}

// permitAll is declared in aws_test.go.
const (
	forbidDelete = `@id("no-delete") forbid(principal, action == Action::"tools/call", resource == Tool::"delete");`
)

// TestReloadKeepsGuardrails: an emptied policy file, or a set that loses
// every forbid it had, is not swapped in unless the operator allows it;
// the forbids stay enforced and OnReload reports the failure (the gateway
// records policy_reload_failed).
func TestReloadKeepsGuardrails(t *testing.T) {
	deleteCall := request("tools/call", `{"name":"delete","arguments":{}}`)
	for _, tt := range []struct {
		name  string
		files map[string]string // the edit
	}{
		{"guardrails file emptied", map[string]string{"guardrails.cedar": ""}},
		{"guardrails file reduced to comments", map[string]string{"guardrails.cedar": "// TODO restore\n"}},
		{"forbid turned into a permit", map[string]string{"guardrails.cedar": `@id("no-delete") permit(principal, action == Action::"ping", resource);`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, allow := range []bool{false, true} {
				rec := &reloadRecorder{}
				drv := newPollDriver()
				dir := writeFiles(t, map[string]string{"base.cedar": permitAll, "guardrails.cedar": forbidDelete})
				o := Options{PolicyFiles: []string{filepath.Join(dir, "*.cedar")}, ServerHost: testHost, OnReload: rec.hook, AllowGuardrailRemoval: allow}
				drv.options(&o)
				a, err := New(t.Context(), o)
				if err != nil {
					t.Fatal(err)
				}
				if authorize(t, a, ident("a"), post(deleteCall)).Allow {
					t.Fatal("forbid not enforced before the edit")
				}
				for name, content := range tt.files {
					if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
						t.Fatal(err)
					}
				}
				drv.settle(t)
				calls := rec.snapshot()
				if len(calls) != 1 {
					t.Fatalf("allow=%v: %d reload reports, want 1", allow, len(calls))
				}
				denied := !authorize(t, a, ident("a"), post(deleteCall)).Allow
				if allow {
					if calls[0] != nil || denied {
						t.Fatalf("allow_guardrail_removal: reload %v, delete denied %v", calls[0], denied)
					}
					continue
				}
				if !errors.Is(calls[0], ErrGuardrailRemoved) {
					t.Fatalf("reload error %v, want ErrGuardrailRemoved", calls[0])
				}
				if !denied {
					t.Fatal("the forbid disappeared with the reload")
				}
				// SIGHUP's Reload refuses it the same way.
				if err := a.Reload(); !errors.Is(err, ErrGuardrailRemoved) {
					t.Fatalf("Reload err = %v", err)
				}
				drv.poll(t, 2)
				if n := len(rec.snapshot()); n != 2 {
					t.Fatalf("%d reload reports after more polls, want the rejection reported once more by Reload only", n)
				}
			}
		})
	}
}

// TestReloadConcurrentWithAuthorize runs decisions while reloading, for the
// race detector.
func TestReloadConcurrentWithAuthorize(t *testing.T) {
	var dir string
	a := newTestAuthorizer(t, map[string]string{"p.cedar": allowPing}, func(d string, _ *Options) { dir = d })
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					if _, err := a.Authorize(t.Context(), ident("a"), post(request("ping", ""))); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	for i := range 20 {
		text := allowPing
		if i%2 == 1 {
			text = allowList
		}
		if err := os.WriteFile(filepath.Join(dir, "p.cedar"), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := a.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}
