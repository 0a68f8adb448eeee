package authz

import (
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestCloseWaitsForReloadInFlight: Close returns only after the watcher
// has finished the poll it is in, and the watcher takes no tick after it.
func TestCloseWaitsForReloadInFlight(t *testing.T) {
	dir := writeFiles(t, map[string]string{"a.cedar": allowPing})
	ticks := make(chan time.Time)
	entered, release := make(chan struct{}), make(chan struct{})
	var finished atomic.Bool
	a, err := New(t.Context(), Options{
		PolicyFiles: []string{filepath.Join(dir, "*.cedar")},
		ServerHost:  testHost,
		ReloadTicks: ticks,
		OnPoll: func() {
			close(entered)
			<-release
			finished.Store(true)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ticks <- time.Now()
	<-entered
	closed := make(chan bool)
	go func() {
		a.Close()
		closed <- finished.Load()
	}()
	close(release)
	if !<-closed {
		t.Fatal("Close returned while a reload was still running")
	}
	select {
	case ticks <- time.Now():
		t.Fatal("the watcher took a tick after Close")
	default:
	}
	a.Close() // idempotent
}

// TestCloseWithoutWatcher: an Authorizer that watches nothing closes at once.
func TestCloseWithoutWatcher(t *testing.T) {
	dir := writeFiles(t, map[string]string{"a.cedar": allowPing})
	a, err := New(t.Context(), Options{PolicyFiles: []string{filepath.Join(dir, "*.cedar")}, ServerHost: testHost})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	a.Close()
}
