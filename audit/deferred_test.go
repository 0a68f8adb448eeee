package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// eventWriter records each Write, reports it on wrote, and fails the
// writes whose 1-based index is in fail.
type eventWriter struct {
	mu     sync.Mutex
	writes [][]byte
	all    bytes.Buffer
	fail   map[int]bool
	wrote  chan int // receives the index of each write, when not nil
}

func (w *eventWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.writes = append(w.writes, bytes.Clone(p))
	n := len(w.writes)
	failed := w.fail[n]
	if !failed {
		w.all.Write(p)
	}
	w.mu.Unlock()
	if w.wrote != nil {
		w.wrote <- n
	}
	if failed {
		return 0, syscall.ENOSPC
	}
	return len(p), nil
}

// snapshot returns the number of writes and the bytes written so far.
func (w *eventWriter) snapshot() (int, []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.writes), bytes.Clone(w.all.Bytes())
}

// lockedBuffer is a bytes.Buffer safe for the logger's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// response is the mcp_response record completing request id.
func response(id string) *Event {
	return &Event{Type: TypeMCPResponse, Outcome: OutcomeSuccess, RequestID: id,
		HTTP: &HTTP{Method: "POST", Status: 200}, DurationMS: 0.4}
}

// deferredLogger returns a logger writing to w whose deferred records wait
// for a timer that does not fire within a test unless interval says so.
func deferredLogger(t *testing.T, w *eventWriter, o Options) *Logger {
	t.Helper()
	o.Enabled, o.Writer = true, w
	if o.FlushInterval == 0 {
		o.FlushInterval = time.Hour
	}
	l, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func mustVerify(t *testing.T, data []byte, records int) {
	t.Helper()
	rep, err := Verify(bytes.NewReader(data))
	if err != nil || rep.BrokenAt != 0 || rep.Records != records {
		t.Fatalf("verify = %+v, %v; want %d records, intact", rep, err, records)
	}
}

// waitWrite waits for the writer to report a write.
func waitWrite(t *testing.T, w *eventWriter) int {
	t.Helper()
	select {
	case n := <-w.wrote:
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("no write")
		return 0
	}
}

// TestDeferredJoinsTheNextWrite shows deferred records written ahead of the
// next synchronous record, in queue order, in its single write(2).
func TestDeferredJoinsTheNextWrite(t *testing.T) {
	for _, deferred := range []int{1, 3} {
		t.Run(fmt.Sprint(deferred, " deferred"), func(t *testing.T) {
			w := &eventWriter{}
			l := deferredLogger(t, w, Options{})
			ctx := t.Context()
			for i := range deferred {
				if err := l.AppendDeferred(ctx, response(fmt.Sprint("r", i))); err != nil {
					t.Fatal(err)
				}
			}
			if n, _ := w.snapshot(); n != 0 {
				t.Fatalf("%d writes before any synchronous record", n)
			}
			seq, err := l.Append(ctx, toolCall())
			if err != nil || seq != uint64(deferred+1) {
				t.Fatalf("Append = %d, %v; want seq %d", seq, err, deferred+1)
			}
			n, data := w.snapshot()
			if n != 1 {
				t.Fatalf("%d writes, want 1", n)
			}
			es := entries(t, data)
			for i, e := range es[:deferred] {
				if e.Type != TypeMCPResponse || e.RequestID != fmt.Sprint("r", i) || e.Seq != uint64(i+1) {
					t.Errorf("line %d: %s %s seq %d", i+1, e.Type, e.RequestID, e.Seq)
				}
			}
			if last := es[len(es)-1]; last.Type != TypeMCPToolCall || last.Seq != seq {
				t.Errorf("last line: %s seq %d", last.Type, last.Seq)
			}
			mustVerify(t, data, deferred+1)
		})
	}
}

// TestDeferredTimer shows a deferred record written by the timer with no
// further call, and the timer armed again for the next one.
func TestDeferredTimer(t *testing.T) {
	w := &eventWriter{wrote: make(chan int, 4)}
	var written atomic.Int32
	l := deferredLogger(t, w, Options{FlushInterval: time.Millisecond,
		OnWrite: func(Type, Outcome) { written.Add(1) }})
	for i := range 2 {
		if err := l.AppendDeferred(t.Context(), response(fmt.Sprint("r", i))); err != nil {
			t.Fatal(err)
		}
		if n := waitWrite(t, w); n != i+1 {
			t.Fatalf("write %d, want %d", n, i+1)
		}
	}
	l.mu.Lock()
	armed := l.armed
	l.mu.Unlock()
	if armed {
		t.Error("timer still armed with an empty queue")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	_, data := w.snapshot()
	mustVerify(t, data, 2)
	if written.Load() != 2 {
		t.Errorf("OnWrite called %d times, want 2", written.Load())
	}
}

// TestDeferredWrittenBy shows every way queued records are written before
// the call returns: Flush, Checkpoint (whose checkpoint then anchors them),
// Reopen (into the file they were queued for) and Close.
func TestDeferredWrittenBy(t *testing.T) {
	tests := []struct {
		name string
		do   func(l *Logger, path string) error
		file string // the file holding the records, relative to path
	}{
		{"flush", func(l *Logger, _ string) error { return l.Flush() }, ""},
		{"checkpoint", func(l *Logger, _ string) error { return l.Checkpoint(CheckpointInterval) }, ""},
		{"close", func(l *Logger, _ string) error { return l.Close() }, ""},
		{"reopen", func(l *Logger, path string) error {
			if err := os.Rename(path, path+".1"); err != nil {
				return err
			}
			return l.Reopen()
		}, ".1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, key := tempLog(t), testKey(t)
			l := fileLogger(t, path, key, Options{FlushInterval: time.Hour})
			recordN(t, l, 1)
			for i := range 3 {
				if err := l.AppendDeferred(t.Context(), response(fmt.Sprint("r", i))); err != nil {
					t.Fatal(err)
				}
			}
			if got := len(entries(t, readFile(t, path))); got != 1 {
				t.Fatalf("%d records written before %s, want 1", got, tt.name)
			}
			if err := tt.do(l, path); err != nil {
				t.Fatal(err)
			}
			data := readFile(t, path+tt.file)
			mustVerify(t, data, 4)
			if tt.name == "checkpoint" || tt.name == "close" || tt.name == "reopen" {
				cps := checkpoints(t, path+".checkpoints", key)
				if len(cps) == 0 || cps[len(cps)-1].Seq != 4 {
					t.Errorf("checkpoints %+v: the last does not anchor seq 4", cps)
				}
			}
			if tt.name == "reopen" {
				recordN(t, l, 1)
				es := entries(t, readFile(t, path))
				if len(es) != 1 || es[0].Seq != 5 {
					t.Errorf("the new file holds %+v, want the one record of seq 5", es)
				}
			}
		})
	}
}

// TestDeferredSynchronous shows AppendDeferred writing before it returns,
// and reporting the write's error, when nothing may wait.
func TestDeferredSynchronous(t *testing.T) {
	tests := []struct {
		name string
		o    Options
	}{
		{"flush_interval 0", Options{}},
		{"fsync always", Options{Fsync: FsyncAlways, FlushInterval: time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &eventWriter{fail: map[int]bool{2: true}}
			tt.o.Enabled, tt.o.Writer = true, w
			l, err := New(tt.o)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if err := l.AppendDeferred(t.Context(), response("r0")); err != nil {
				t.Fatal(err)
			}
			if n, data := w.snapshot(); n != 1 || len(entries(t, data)) != 1 {
				t.Fatalf("%d writes on return, want 1", n)
			}
			if err := l.AppendDeferred(t.Context(), response("r1")); !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("failed write: AppendDeferred = %v, want ENOSPC", err)
			}
		})
	}
	t.Run("fsync always, file", func(t *testing.T) {
		path := tempLog(t)
		l := fileLogger(t, path, nil, Options{Fsync: FsyncAlways, FlushInterval: time.Hour})
		if err := l.AppendDeferred(t.Context(), response("r0")); err != nil {
			t.Fatal(err)
		}
		mustVerify(t, readFile(t, path), 1)
	})
}

// TestDeferredWriteFailure shows a deferred record whose write fails
// logged and counted, the synchronous record of the same write failed as
// before, and the chain kept where it was.
func TestDeferredWriteFailure(t *testing.T) {
	tests := []struct {
		name string
		// written by: a synchronous Append (true) or Flush
		withSync bool
	}{
		{"with a synchronous record", true},
		{"alone, by Flush", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &eventWriter{fail: map[int]bool{2: true}}
			var logs lockedBuffer
			var failures atomic.Int32
			l := deferredLogger(t, w, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)),
				OnWriteFailure: func() { failures.Add(1) }})
			ctx := t.Context()
			if _, err := l.Append(ctx, toolCall()); err != nil {
				t.Fatal(err)
			}
			if err := l.AppendDeferred(ctx, response("lost-response")); err != nil {
				t.Fatal(err)
			}
			wantFailures := int32(1)
			if tt.withSync {
				if _, err := l.Append(ctx, toolCall()); !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("the synchronous record of the failed write: %v, want ENOSPC", err)
				}
				wantFailures++
			} else if err := l.Flush(); !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("Flush = %v, want ENOSPC", err)
			}
			if got := failures.Load(); got != wantFailures {
				t.Errorf("OnWriteFailure called %d times, want %d", got, wantFailures)
			}
			out := logs.String()
			for _, want := range []string{"audit record not written", "type=mcp_response", "request_id=lost-response", "no space left on device"} {
				if !strings.Contains(out, want) {
					t.Errorf("log %q lacks %q", out, want)
				}
			}
			seq, err := l.Append(ctx, toolCall())
			if err != nil || seq != 2 {
				t.Fatalf("after the failure: seq %d, %v; want 2", seq, err)
			}
			if err := l.Flush(); err != nil {
				t.Errorf("Flush after the failure = %v", err)
			}
			_, data := w.snapshot()
			mustVerify(t, data, 2)
		})
	}
}

// TestDeferredFiltered shows a filtered type never queued, and invalid
// events refused as by Append.
func TestDeferredFiltered(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		e    *Event
		err  bool
	}{
		{"responses excluded", Options{Exclude: []string{"mcp_response"}}, response("r"), false},
		{"not included", Options{Include: []string{"mcp_tool_call"}}, &Event{Type: TypeMCPPing, Outcome: OutcomeSuccess}, false},
		{"unknown type", Options{}, &Event{Type: "nope", Outcome: OutcomeSuccess}, true},
		{"unknown outcome", Options{}, &Event{Type: TypeMCPResponse, Outcome: "maybe"}, true},
		{"nil event", Options{}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &eventWriter{}
			l := deferredLogger(t, w, tt.o)
			if err := l.AppendDeferred(t.Context(), tt.e); (err != nil) != tt.err {
				t.Fatalf("AppendDeferred = %v, want error %v", err, tt.err)
			}
			l.mu.Lock()
			queued, armed := len(l.queue), l.armed
			l.mu.Unlock()
			if queued != 0 || armed {
				t.Errorf("%d queued, timer armed %v; want nothing", queued, armed)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if n, _ := w.snapshot(); n != 0 {
				t.Errorf("%d writes, want none", n)
			}
		})
	}
}

// TestDeferredRecordIsTheCalls shows the record made at the call: its time
// is the call's, and the caller may change its event afterwards.
func TestDeferredRecordIsTheCalls(t *testing.T) {
	at := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	var now atomic.Pointer[time.Time]
	now.Store(&at)
	w := &eventWriter{}
	l := deferredLogger(t, w, Options{Now: func() time.Time { return *now.Load() }})
	e := response("r0")
	if err := l.AppendDeferred(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	later := at.Add(time.Hour)
	now.Store(&later)
	e.RequestID, e.HTTP.Status = "changed", 500
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	_, data := w.snapshot()
	es := entries(t, data)
	if len(es) != 1 || es[0].RequestID != "r0" || es[0].HTTP.Status != 200 || !es[0].Time.Equal(at) {
		t.Errorf("record %+v, want r0, status 200 at %s", es, at)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.AppendDeferred(t.Context(), response("r1")); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
	if err := l.Flush(); !errors.Is(err, ErrClosed) {
		t.Errorf("Flush after Close: %v, want ErrClosed", err)
	}
}

// TestDeferredQueueBounded shows the queue of deferred records bounded: the
// record that fills it writes it.
func TestDeferredQueueBounded(t *testing.T) {
	w := &eventWriter{}
	l := deferredLogger(t, w, Options{})
	e := response(strings.Repeat("x", 1000))
	total := 0
	for range 2 * maxDeferred / 1000 {
		if err := l.AppendDeferred(t.Context(), e); err != nil {
			t.Fatal(err)
		}
		total++
		l.mu.Lock()
		queued := l.deferred
		l.mu.Unlock()
		if queued >= maxDeferred {
			t.Fatalf("%d bytes of deferred records queued, bound %d", queued, maxDeferred)
		}
	}
	if n, _ := w.snapshot(); n < 1 {
		t.Fatal("the full queue was not written")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	_, data := w.snapshot()
	mustVerify(t, data, total)
}

// TestDeferredConcurrent mixes Append and AppendDeferred from many
// goroutines, with the timer firing meanwhile: every record is written
// once, each response after its request, and the chain verifies.
func TestDeferredConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l := fileLogger(t, path, testKey(t), Options{FlushInterval: 50 * time.Microsecond})
	const goroutines, each = 8, 50
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("g%d-%d", g, i)
				e := toolCall()
				e.RequestID = id
				seq, err := l.Append(context.Background(), e)
				if err != nil {
					t.Error(err)
					return
				}
				r := response(id)
				r.RequestSeq = seq
				if err := l.AppendDeferred(context.Background(), r); err != nil {
					t.Error(err)
					return
				}
				if i%10 == 0 {
					if err := l.Checkpoint(CheckpointInterval); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	data := readFile(t, path)
	mustVerify(t, data, 2*goroutines*each)
	type seen struct{ request, response uint64 }
	byID := map[string]*seen{}
	for _, e := range entries(t, data) {
		s := byID[e.RequestID]
		if s == nil {
			s = &seen{}
			byID[e.RequestID] = s
		}
		switch e.Type {
		case TypeMCPToolCall:
			if s.request != 0 {
				t.Errorf("%s: request written twice", e.RequestID)
			}
			s.request = e.Seq
		case TypeMCPResponse:
			if s.response != 0 {
				t.Errorf("%s: response written twice", e.RequestID)
			}
			if e.RequestSeq != s.request || s.request == 0 {
				t.Errorf("%s: response (request_seq %d) not after its request (seq %d)", e.RequestID, e.RequestSeq, s.request)
			}
			s.response = e.Seq
		}
	}
	if len(byID) != goroutines*each {
		t.Errorf("%d request ids, want %d", len(byID), goroutines*each)
	}
}
