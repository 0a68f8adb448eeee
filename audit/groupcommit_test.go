package audit

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
)

// gateWriter blocks its first Write until released, and records what each
// Write received; fail makes the second Write fail.
type gateWriter struct {
	mu      sync.Mutex
	entered chan struct{}
	release chan struct{}
	writes  [][]byte
	all     bytes.Buffer
	fail    bool
}

func (w *gateWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	n := len(w.writes)
	w.writes = append(w.writes, bytes.Clone(p))
	w.mu.Unlock()
	if n == 0 {
		close(w.entered)
		<-w.release
	}
	if n == 1 && w.fail {
		return 0, errors.New("disk full")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.all.Write(p)
	return len(p), nil
}

// queued waits until n records are queued behind the write in progress.
func queued(t *testing.T, l *Logger, n int) {
	t.Helper()
	for {
		l.mu.Lock()
		got := len(l.queue)
		l.mu.Unlock()
		if got == n {
			return
		}
		if t.Context().Err() != nil {
			t.Fatal("records were not queued")
		}
		runtime.Gosched()
	}
}

// TestGroupCommit shows that records arriving during a write are written
// together in the next write, that each Append returns only after its own
// line is in the output, and that the chain stays intact.
func TestGroupCommit(t *testing.T) {
	w := &gateWriter{entered: make(chan struct{}), release: make(chan struct{})}
	l, err := New(Options{Enabled: true, Writer: w})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	first := make(chan error, 1)
	go func() { _, err := l.Append(ctx, toolCall()); first <- err }()
	<-w.entered
	const n = 5
	var wg sync.WaitGroup
	seqs := make(chan uint64, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seq, err := l.Append(ctx, &Event{Type: TypeMCPResponse, Outcome: OutcomeSuccess})
			if err != nil {
				t.Error(err)
				return
			}
			w.mu.Lock()
			written := bytes.Count(w.all.Bytes(), []byte("\n"))
			w.mu.Unlock()
			if uint64(written) < seq {
				t.Errorf("Append returned seq %d with %d lines written", seq, written)
			}
			seqs <- seq
		}()
	}
	queued(t, l, n)
	close(w.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(seqs)
	seen := map[uint64]bool{}
	for s := range seqs {
		seen[s] = true
	}
	for s := uint64(2); s <= n+1; s++ {
		if !seen[s] {
			t.Errorf("seq %d not returned (got %v)", s, seen)
		}
	}
	if len(w.writes) != 2 || bytes.Count(w.writes[1], []byte("\n")) != n {
		t.Errorf("%d writes, want 2 with the %d queued records in the second", len(w.writes), n)
	}
	rep, err := Verify(bytes.NewReader(w.all.Bytes()))
	if err != nil || rep.BrokenAt != 0 || rep.Records != n+1 {
		t.Errorf("verify = %+v, %v", rep, err)
	}
}

// TestGroupCommitFailure shows that a failed batch fails every record in it
// and leaves the chain where it was: the next record links to the last one
// written.
func TestGroupCommitFailure(t *testing.T) {
	w := &gateWriter{entered: make(chan struct{}), release: make(chan struct{}), fail: true}
	l, err := New(Options{Enabled: true, Writer: w})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	first := make(chan error, 1)
	go func() { _, err := l.Append(ctx, toolCall()); first <- err }()
	<-w.entered
	const n = 3
	errs := make(chan error, n)
	for range n {
		go func() { _, err := l.Append(ctx, toolCall()); errs <- err }()
	}
	queued(t, l, n)
	close(w.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := <-errs; err == nil {
			t.Error("a record of the failed write reported success")
		}
	}
	seq, err := l.Append(ctx, toolCall())
	if err != nil || seq != 2 {
		t.Fatalf("after the failure: seq %d, %v; want 2", seq, err)
	}
	rep, err := Verify(bytes.NewReader(w.all.Bytes()))
	if err != nil || rep.BrokenAt != 0 || rep.Records != 2 {
		t.Errorf("verify = %+v, %v", rep, err)
	}
}
