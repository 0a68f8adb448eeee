package authz

import (
	"bytes"
	"context"
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

// waitFor polls cond for up to two seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPollingReload(t *testing.T) {
	rec := &reloadRecorder{}
	dir := writeFiles(t, map[string]string{"a.cedar": allowPing})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := New(ctx, Options{
		PolicyFiles:    []string{filepath.Join(dir, "*.cedar")},
		ServerHost:     testHost,
		ReloadInterval: 10 * time.Millisecond,
		OnReload:       rec.hook,
	})
	if err != nil {
		t.Fatal(err)
	}
	allowed := func(method string) bool {
		return authorize(t, a, ident("a"), post(request(method, ""))).Allow
	}

	// A new file matching the glob is picked up.
	if err := os.WriteFile(filepath.Join(dir, "b.cedar"), []byte(allowList), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "new file", func() bool { return allowed("tools/list") })
	if !allowed("ping") {
		t.Fatal("ping no longer allowed")
	}

	// A broken edit is rejected once and the last good set stays.
	if err := os.WriteFile(filepath.Join(dir, "b.cedar"), []byte("permit("), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "rejection", func() bool {
		c := rec.snapshot()
		return len(c) == 2 && c[1] != nil
	})
	time.Sleep(50 * time.Millisecond) // several more ticks
	if c := rec.snapshot(); len(c) != 2 {
		t.Fatalf("a broken set was reported %d times, want once", len(c)-1)
	}
	if !allowed("tools/list") || !allowed("ping") {
		t.Fatal("last good set not in force")
	}

	// Fixing it swaps again; touching without change does not reload.
	if err := os.WriteFile(filepath.Join(dir, "b.cedar"), []byte(`@id("list2") permit(principal, action == Action::"prompts/list", resource);`), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "fixed set", func() bool { return allowed("prompts/list") })
	if allowed("tools/list") {
		t.Fatal("old policy still in force")
	}
	n := len(rec.snapshot())
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "b.cedar"), future, future); err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond)
	if got := len(rec.snapshot()); got != n {
		t.Fatalf("touching an unchanged file reloaded (%d → %d calls)", n, got)
	}

	// Removing every matching file is rejected too.
	for _, f := range []string{"a.cedar", "b.cedar"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "missing files rejected", func() bool {
		c := rec.snapshot()
		return len(c) == n+1 && c[n] != nil
	})
	if !allowed("prompts/list") {
		t.Fatal("last good set not in force after files vanished")
	}
	cancel()
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
					if _, err := a.Authorize(context.Background(), ident("a"), post(request("ping", ""))); err != nil {
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
