package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"
	"unsafe"
)

// Fsync policies for file outputs.
const (
	FsyncNever    = "never"
	FsyncAlways   = "always"
	FsyncInterval = "interval"
)

// Options configures a Logger. It mirrors audit_config; zero values are
// the strictest or smallest choices, not the configuration defaults.
type Options struct {
	// Enabled false gives a logger that accepts and discards every event.
	Enabled bool
	// Output is "stdout" (or empty) or a file path, opened with O_APPEND
	// and created with mode 0600. An existing file's chain is resumed.
	Output string
	// Writer, when set, receives the records instead of Output; the chain
	// starts at Genesis as for stdout. For embedding and tests.
	Writer io.Writer
	// Fsync is FsyncNever (or empty), FsyncAlways or FsyncInterval; it
	// applies to regular files only.
	Fsync string
	// FsyncInterval is the period of FsyncInterval (default 1s).
	FsyncInterval time.Duration
	// FlushInterval is how long a record queued by AppendDeferred may wait
	// for the next write before a timer writes it. 0 (or Fsync
	// FsyncAlways) makes AppendDeferred write before it returns, as Append.
	FlushInterval time.Duration
	// IncludeArguments records tool and prompt arguments.
	IncludeArguments bool
	// RedactKeys are argument keys whose values are never recorded,
	// matched case-insensitively at any depth, as a whole key or as whole
	// words of a key.
	RedactKeys []string
	// MaxArgumentBytes bounds each argument value and free-text field;
	// 0 means unbounded.
	MaxArgumentBytes int
	// Include lists the event types to write (empty: all); Exclude lists
	// types never written and wins over Include. Unknown names are errors.
	Include []string
	Exclude []string
	// OnFailure is "deny" (or empty) or "continue"; see FailClosed.
	OnFailure string
	// Logger receives background fsync failures and the records queued by
	// AppendDeferred that could not be written; nil discards them.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// OnWrite is called after each record is written, for metrics.
	OnWrite func(typ Type, outcome Outcome)
	// OnWriteFailure is called when a record cannot be written or synced.
	OnWriteFailure func()
	// Checkpoints anchors the chain head outside the log; off when its Key
	// is nil.
	Checkpoints CheckpointOptions
	// OnCheckpoint is called after each checkpoint is written.
	OnCheckpoint func(Checkpoint)
}

// CheckpointOptions configures signed checkpoints of the chain head.
type CheckpointOptions struct {
	// Key signs the checkpoints (LoadPrivateKey); nil disables them.
	Key ed25519.PrivateKey
	// File is the sidecar file the checkpoints are appended to, one line
	// each (default: the log's path + ".checkpoints"). Required when the
	// output is not a file.
	File string
	// Interval is the period of the CheckpointInterval checkpoints, written
	// only when records were added since the last one (default 1m).
	Interval time.Duration
}

// Logger writes tamper-evident audit records, one JSON object per line.
// It is safe for concurrent use. A nil *Logger, like a disabled one,
// accepts and discards every event.
type Logger struct {
	enabled    bool
	failClosed bool
	w          io.Writer
	path       string      // the output file's path, reopened by Reopen
	file       *os.File    // the output when it is a file we opened
	fileInfo   os.FileInfo // of file, to tell a rotated path from the same file
	regular    bool        // file is a regular file (syncable, resumable)
	ownsFile   bool
	fsync      string
	include    map[Type]bool
	exclude    map[Type]bool
	redact     *redactor
	args       bool
	log        *slog.Logger
	now        func() time.Time
	onWrite    func(Type, Outcome)
	onFailure  func()
	flushEvery time.Duration // the wait of deferred records; 0: none are deferred

	cpKey      ed25519.PrivateKey // nil: no checkpoints
	cpPath     string
	cpFile     *os.File
	cpInterval time.Duration
	onCP       func(Checkpoint)
	cpSeq      uint64 // seq of the last checkpoint written
	damaged    *Event // an audit_log_damaged event found by the resume, written by New

	mu        sync.Mutex
	seq       uint64
	prev      chainHash // hash of the last record written (Genesis before the first)
	line      []byte
	dirty     bool
	cond      *sync.Cond       // on mu: a write finished
	writing   bool             // a goroutine is writing a batch
	queue     []*pendingRecord // records waiting for the next write
	spare     []*pendingRecord // the previous batch's slice, reused
	pending   error            // a background fsync failure not yet reported
	needNL    bool             // a partial line was left behind by a failed write
	enqueued  uint64           // records ever queued
	flushed   uint64           // records ever taken from the queue and finished
	deferred  int              // bytes of the deferred records in queue
	timer     *time.Timer      // writes the deferred records flushEvery after the first
	armed     bool             // timer will run and has not yet taken mu
	deferFail uint64           // deferred records whose write failed, for Flush
	deferErr  error            // the last such failure
	closed    bool             // no more records are accepted
	shut      bool             // the output is closed
	closeOnce sync.Once
	stop      chan struct{}
	stopped   chan struct{}
	closeErr  error
}

// chainHash is a record's hash as the 64 lowercase hex digits the chain
// links with, held in place so advancing the chain allocates nothing.
type chainHash [2 * sha256.Size]byte

// set copies h, 64 hex digits (Genesis, or a hash read back from a
// record or a signed checkpoint, both checked to be that).
func (c *chainHash) set(h string) { copy(c[:], h) }

// maxDeferred bounds the bytes of deferred records waiting: the
// AppendDeferred that reaches it writes the queue itself, so a burst cannot
// grow the queue, or the write buffer past what is kept for reuse.
const maxDeferred = 32 << 10

// ErrClosed is returned by Record after Close.
var ErrClosed = errors.New("audit logger is closed")

// New opens the output and returns a logger ready to record. A disabled
// Options gives a logger that discards. For a file that already holds
// records, the chain resumes from its last record; if that record is cut
// short or invalid, New fails rather than fork the chain.
func New(o Options) (*Logger, error) {
	l := &Logger{
		enabled:   o.Enabled,
		fsync:     o.Fsync,
		args:      o.IncludeArguments,
		log:       o.Logger,
		now:       o.Now,
		onWrite:   o.OnWrite,
		onFailure: o.OnWriteFailure,
		onCP:      o.OnCheckpoint,
	}
	l.prev.set(Genesis)
	l.cond = sync.NewCond(&l.mu)
	if !o.Enabled {
		return l, nil
	}
	switch o.OnFailure {
	case "", "deny":
		l.failClosed = true
	case "continue":
	default:
		return nil, fmt.Errorf("audit on_failure must be deny or continue, got %q", o.OnFailure)
	}
	switch o.Fsync {
	case "", FsyncNever, FsyncAlways, FsyncInterval:
	default:
		return nil, fmt.Errorf("audit fsync must be never, always or interval, got %q", o.Fsync)
	}
	if o.FlushInterval < 0 {
		return nil, fmt.Errorf("audit flush_interval must not be negative, got %s", o.FlushInterval)
	}
	if o.Fsync != FsyncAlways {
		// Under fsync: always every record is synced before its call
		// returns; none waits.
		l.flushEvery = o.FlushInterval
	}
	if o.MaxArgumentBytes < 0 {
		return nil, fmt.Errorf("audit max_argument_bytes must not be negative, got %d", o.MaxArgumentBytes)
	}
	var err error
	if l.include, err = typeSet(o.Include); err != nil {
		return nil, fmt.Errorf("audit event_types.include: %w", err)
	}
	if l.exclude, err = typeSet(o.Exclude); err != nil {
		return nil, fmt.Errorf("audit event_types.exclude: %w", err)
	}
	l.redact = newRedactor(o.RedactKeys, o.MaxArgumentBytes)
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.now == nil {
		l.now = time.Now
	}
	if k := o.Checkpoints.Key; k != nil {
		if len(k) != ed25519.PrivateKeySize {
			return nil, errors.New("audit checkpoint key is not an Ed25519 private key")
		}
		l.cpKey, l.cpPath, l.cpInterval = k, o.Checkpoints.File, o.Checkpoints.Interval
		if l.cpPath == "" {
			if o.Writer != nil || o.Output == "" || o.Output == "stdout" {
				return nil, errors.New("audit checkpoints need a checkpoint file when the output is not a file")
			}
			l.cpPath = o.Output + ".checkpoints"
		}
		if l.cpInterval <= 0 {
			l.cpInterval = time.Minute
		}
	}
	switch {
	case o.Writer != nil:
		l.w = o.Writer
	case o.Output == "" || o.Output == "stdout":
		l.w = os.Stdout
	default:
		if err := l.openFile(o.Output); err != nil {
			return nil, err
		}
	}
	if err := l.openCheckpoints(); err != nil {
		return nil, errors.Join(err, l.closeFiles())
	}
	if l.damaged != nil {
		l.log.Error("audit log damaged: it is shorter than, or differs from, its last signed checkpoint; recorded as audit_log_damaged",
			"file", l.path, "details", l.damaged.Details)
		if err := l.Record(context.Background(), l.damaged); err != nil {
			return nil, errors.Join(fmt.Errorf("record audit_log_damaged: %w", err), l.closeFiles())
		}
	}
	var syncEvery time.Duration
	if l.regular && o.Fsync == FsyncInterval {
		syncEvery = o.FsyncInterval
		if syncEvery <= 0 {
			syncEvery = time.Second
		}
	}
	if syncEvery > 0 || l.cpKey != nil {
		l.stop, l.stopped = make(chan struct{}), make(chan struct{})
		go l.loop(syncEvery, l.cpInterval)
	}
	return l, nil
}

// openCheckpoints opens the checkpoint file and, for a file output,
// compares the resumed chain with the last signed checkpoint: an empty
// (new or rotated) log continues from it; a log that ends before it, or
// whose record at its seq differs, is recorded as damaged.
func (l *Logger) openCheckpoints() error {
	if l.cpKey == nil {
		return nil
	}
	pub := l.cpKey.Public().(ed25519.PublicKey)
	last, ok, err := lastCheckpoint(l.cpPath, pub)
	if err != nil {
		return fmt.Errorf("resume audit checkpoints: %w", err)
	}
	f, err := os.OpenFile(l.cpPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open audit checkpoints: %w", err)
	}
	l.cpFile = f
	if !ok || !l.regular {
		return nil
	}
	l.cpSeq = last.Seq
	switch {
	case l.seq == 0:
		// A new file, or the old one was moved away while mcpguard was
		// stopped: its first record links to the last anchored head, and
		// a rotate checkpoint marks where the previous file ended.
		l.seq = last.Seq
		l.prev.set(last.Hash)
		return l.checkpointLocked(CheckpointRotate, true)
	case l.seq < last.Seq:
		l.damaged = damagedEvent(fmt.Sprintf("the log ends at seq %d, but a signed checkpoint of %s anchors seq %d: records were deleted from its tail",
			l.seq, last.Time.Format(time.RFC3339), last.Seq), l.seq, last)
	case l.seq == last.Seq && string(l.prev[:]) != last.Hash:
		l.damaged = damagedEvent(fmt.Sprintf("the last record (seq %d) differs from the signed checkpoint of that seq: the log was rewritten", l.seq), l.seq, last)
	}
	return nil
}

func damagedEvent(reason string, logSeq uint64, c Checkpoint) *Event {
	return &Event{Type: TypeAuditLogDamaged, Outcome: OutcomeError,
		Error: &Error{Kind: "audit_log_damaged", Message: reason},
		Details: map[string]any{"log_last_seq": logSeq, "checkpoint_seq": c.Seq, "checkpoint_hash": c.Hash,
			"checkpoint_time": c.Time.UTC().Format(time.RFC3339Nano)}}
}

func typeSet(names []string) (map[Type]bool, error) {
	if len(names) == 0 {
		return nil, nil
	}
	set := make(map[Type]bool, len(names))
	for _, n := range names {
		t := Type(n)
		if !t.Valid() {
			return nil, fmt.Errorf("unknown event type %q", n)
		}
		set[t] = true
	}
	return set, nil
}

// openFile opens path for appending, takes an exclusive lock so a second
// process cannot interleave its own chain, and resumes the chain.
func (l *Logger) openFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open audit log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("stat audit log: %w", err)
	}
	l.path, l.file, l.fileInfo, l.w, l.ownsFile = path, f, fi, f, true
	l.regular = fi.Mode().IsRegular()
	if !l.regular {
		return nil
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return fmt.Errorf("lock audit log %s: %w", path, err)
	}
	r, err := os.Open(path)
	if err != nil {
		f.Close()
		return fmt.Errorf("open audit log for reading: %w", err)
	}
	defer r.Close()
	prev, seq, err := lastRecord(r)
	if err != nil {
		f.Close()
		return fmt.Errorf("resume audit log %s: %w", path, err)
	}
	l.prev.set(prev)
	l.seq = seq
	return nil
}

// FailClosed reports whether a request whose record cannot be written must
// be refused (on_failure: deny).
func (l *Logger) FailClosed() bool { return l != nil && l.enabled && l.failClosed }

// Enabled reports whether events of type t are written, so callers can skip
// building an event nobody records.
func (l *Logger) Enabled(t Type) bool {
	if l == nil || !l.enabled {
		return false
	}
	if l.exclude[t] {
		return false
	}
	return l.include == nil || l.include[t]
}

// writes applies the type filter to a record about to be written: an
// mcp_response follows the request it completes (the caller writes one
// only when the request's record was written), so include does not apply
// to it, exclude does; audit_log_damaged is never filtered out.
func (l *Logger) writes(t Type) bool {
	switch t {
	case TypeAuditLogDamaged:
		return true
	case TypeMCPResponse:
		return !l.exclude[t]
	}
	return l.Enabled(t)
}

// record is what is encoded for each event, before the chain fields.
type record struct {
	Schema  string    `json:"schema"`
	Time    time.Time `json:"time"`
	AuditID string    `json:"audit_id"`
	*Event
}

// Record writes one event: Append without the seq.
func (l *Logger) Record(ctx context.Context, e *Event) error {
	_, err := l.Append(ctx, e)
	return err
}

// Append writes one event and returns its seq (0 when the event was not
// written: a disabled logger or a filtered type). It fills schema, time
// (UTC), audit_id, seq and the hash chain, redacts and truncates the
// event's free text and arguments (in a copy of what changes: the
// caller's event is never modified, and it is not kept after the call),
// and writes the line in one call. The error reports an invalid
// event or a failed write or sync of this very record; the caller decides
// per FailClosed. No other record's success or failure changes it.
func (l *Logger) Append(_ context.Context, e *Event) (uint64, error) {
	if ok, err := l.accepts(e); !ok {
		return 0, err
	}
	bp := bodyPool.Get().(*[]byte)
	defer putBody(bp)
	var id [36]byte
	body, err := appendRecord((*bp)[:0], l.now().UTC(), newID(&id), l.sanitize(e))
	*bp = body
	if err != nil {
		l.failed()
		return 0, fmt.Errorf("encode audit event %s: %w", e.Type, err)
	}
	seq, err := l.write(body)
	if err != nil {
		l.failed()
		return 0, fmt.Errorf("write audit event %s: %w", e.Type, err)
	}
	if l.onWrite != nil {
		l.onWrite(e.Type, e.Outcome)
	}
	return seq, nil
}

// accepts reports whether e is to be written: false with a nil error for a
// disabled logger or a filtered type, false with an error for an invalid
// event.
func (l *Logger) accepts(e *Event) (bool, error) {
	if l == nil || !l.enabled {
		return false, nil
	}
	if e == nil {
		return false, errors.New("record audit event: nil event")
	}
	if !e.Type.Valid() {
		return false, fmt.Errorf("record audit event: unknown type %q", e.Type)
	}
	if !e.Outcome.Valid() {
		return false, fmt.Errorf("record audit event %s: unknown outcome %q", e.Type, e.Outcome)
	}
	return l.writes(e.Type), nil
}

// AppendDeferred is Append for a record that may wait: it checks, filters,
// redacts and encodes the event now (the record's time is the call's; the
// caller may reuse e), queues the record and returns without waiting for
// the write. The record is written, in queue order like every other, by
// the next write that happens anyway (in the same write(2)), by a timer
// FlushInterval after the first record queued, or by Flush, Checkpoint,
// Reopen or Close; the AppendDeferred whose record brings the queue to
// maxDeferred bytes writes it itself. A record that then fails to write is
// logged (type, request_id, error) and counted through OnWriteFailure; no
// caller sees its error. Under fsync: always, or with FlushInterval 0,
// AppendDeferred writes before it returns and reports the write's error,
// as Append.
//
// The error reports an invalid event, a record that could not be encoded,
// a closed logger, or, when nothing may wait, a failed write or sync.
func (l *Logger) AppendDeferred(ctx context.Context, e *Event) error {
	if l == nil || !l.enabled {
		return nil
	}
	if l.flushEvery <= 0 {
		_, err := l.Append(ctx, e)
		return err
	}
	if ok, err := l.accepts(e); !ok {
		return err
	}
	bp := bodyPool.Get().(*[]byte)
	var id [36]byte
	s := l.sanitize(e)
	body, err := appendRecord((*bp)[:0], l.now().UTC(), newID(&id), s)
	*bp = body
	if err != nil {
		putBody(bp)
		l.failed()
		return fmt.Errorf("encode audit event %s: %w", e.Type, err)
	}
	r := recordPool.Get().(*pendingRecord)
	r.body, r.bp, r.deferred = body, bp, true
	r.typ, r.outcome, r.requestID = e.Type, e.Outcome, s.RequestID
	if err := l.queueDeferred(r); err != nil {
		putBody(bp)
		*r = pendingRecord{}
		recordPool.Put(r)
		l.failed()
		return fmt.Errorf("write audit event %s: %w", e.Type, err)
	}
	return nil
}

// queueDeferred queues r, whose body is sealed into the chain when it is
// written, and makes sure something will write it: the timer, armed when
// the first deferred record is queued, or this very call when the queue
// has grown to maxDeferred.
func (l *Logger) queueDeferred(r *pendingRecord) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	l.queue = append(l.queue, r)
	l.enqueued++
	l.deferred += len(r.body)
	if l.deferred >= maxDeferred {
		// A failure is the queued records', logged and counted for each.
		_ = l.flushQueuedLocked()
		return nil
	}
	if !l.armed {
		l.armed = true
		if l.timer == nil {
			l.timer = time.AfterFunc(l.flushEvery, l.flushTimer)
		} else {
			l.timer.Reset(l.flushEvery)
		}
	}
	return nil
}

// flushTimer writes the records that waited flushEvery.
func (l *Logger) flushTimer() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.armed = false
	if !l.closed { // Close writes them itself
		_ = l.flushQueuedLocked() // a failure is logged and counted per record
	}
}

// Flush writes the records queued by AppendDeferred and returns once they
// are written. Its error reports the deferred records that failed to
// write while it ran (each is also logged and counted).
func (l *Logger) Flush() error {
	if l == nil || !l.enabled {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	return l.flushQueuedLocked()
}

// flushQueuedLocked writes, with l.mu held, every record queued so far,
// and waits until they are written (by this call or by another writer).
// It reports the deferred records that failed meanwhile.
func (l *Logger) flushQueuedLocked() error {
	target, failed := l.enqueued, l.deferFail
	for l.flushed < target {
		if l.writing {
			l.cond.Wait()
			continue
		}
		l.flushLocked()
	}
	if n := l.deferFail - failed; n > 0 {
		return fmt.Errorf("%d deferred audit records not written: %w", n, l.deferErr)
	}
	return nil
}

func (l *Logger) failed() {
	if l.onFailure != nil {
		l.onFailure()
	}
}

// pendingRecord is one record waiting for its line to be written: an
// Append waiting for it, or a deferred record nobody waits for, which the
// writer of its batch reports and recycles.
type pendingRecord struct {
	body []byte
	seq  uint64
	err  error
	done bool

	deferred  bool
	bp        *[]byte // the pooled buffer holding body, of a deferred record
	typ       Type
	outcome   Outcome
	requestID string
}

// write seals body into the chain and writes it, and returns once its line
// was written (and synced under fsync: always) or failed. Records that
// arrive while another goroutine is writing are queued and written together
// by the next writer in one write(2) (group commit), after the deferred
// records queued before them: each caller still returns only after its own
// bytes are in the output, so a record's error is its own write's. The
// chain advances only over lines written whole; a failed or partial write
// fails every record of that write and the chain stays where it was.
func (l *Logger) write(body []byte) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	if err := l.pending; err != nil {
		l.pending = nil
		return 0, fmt.Errorf("an earlier sync failed: %w", err)
	}
	r := recordPool.Get().(*pendingRecord)
	r.body = body
	l.queue = append(l.queue, r)
	l.enqueued++
	for !r.done {
		if l.writing {
			l.cond.Wait()
			continue
		}
		l.flushLocked()
	}
	seq, err := r.seq, r.err
	*r = pendingRecord{}
	recordPool.Put(r)
	return seq, err
}

// recordPool recycles pendingRecords: once done, no batch refers to one.
var recordPool = sync.Pool{New: func() any { return new(pendingRecord) }}

// flushLocked writes the queued records, deferred or not, as one batch in
// queue order. It is called with l.mu held and no write in progress; it
// releases the lock around the write(2) and the sync, during which
// l.writing keeps every other user of the chain, the output and l.line
// waiting.
func (l *Logger) flushLocked() {
	batch := l.queue
	l.queue = l.spare[:0]
	l.spare = nil
	l.deferred = 0
	if l.armed {
		// Every deferred record is in this batch: the timer has nothing
		// left to write.
		l.armed = !l.timer.Stop()
	}
	finish := func() {
		for _, r := range batch {
			if r.deferred {
				putBody(r.bp)
				*r = pendingRecord{}
				recordPool.Put(r)
				continue
			}
			r.done, r.body = true, nil
		}
		l.flushed += uint64(len(batch))
		clear(batch)
		l.spare = batch[:0]
		l.cond.Broadcast()
	}
	if l.shut {
		for _, r := range batch {
			r.err = ErrClosed
		}
		l.reportDeferred(batch, ErrClosed)
		l.countDeferred(batch, ErrClosed)
		finish()
		return
	}
	l.writing = true
	seq, prev := l.seq, l.prev
	buf := l.line[:0]
	if l.needNL {
		buf = append(buf, '\n')
	}
	l.mu.Unlock()
	var last [2 * sha256.Size]byte
	for i, r := range batch {
		if i == 0 {
			buf, last = sealRecordHash(buf, r.body, seq+1, prev[:])
		} else {
			buf, last = sealRecordHash(buf, r.body, seq+1, last[:])
		}
		seq = seq + 1
		r.seq = seq
	}
	if len(batch) > 0 {
		prev = last
	}
	n, err := l.w.Write(buf)
	if err == nil && n < len(buf) {
		err = io.ErrShortWrite
	}
	var syncErr error
	if err == nil && l.regular && l.fsync == FsyncAlways {
		syncErr = l.file.Sync()
	}
	failed := err
	if failed == nil && syncErr != nil {
		failed = fmt.Errorf("sync: %w", syncErr)
	}
	l.reportDeferred(batch, failed)
	l.mu.Lock()
	l.writing = false
	l.line = buf
	if cap(l.line) > 64<<10 {
		l.line = nil
	}
	switch {
	case err != nil:
		l.needNL = n > 0 && !l.undoPartial(n)
		for _, r := range batch {
			r.seq, r.err = 0, err
		}
		l.countDeferred(batch, err)
	default:
		l.needNL = false
		l.seq, l.prev = seq, prev
		switch {
		case syncErr != nil:
			// The lines are in the file but not known to be durable: the
			// chain has advanced, the requests are refused.
			for _, r := range batch {
				r.seq, r.err = 0, fmt.Errorf("sync: %w", syncErr)
			}
			l.countDeferred(batch, failed)
		case l.regular && l.fsync == FsyncInterval:
			l.dirty = true
		}
	}
	finish()
}

// reportDeferred reports the outcome of the deferred records of a batch,
// whose callers are gone: OnWrite for each written, or a log line and
// OnWriteFailure for each not written (err). The writer of the batch calls
// it while the batch is its own.
func (l *Logger) reportDeferred(batch []*pendingRecord, err error) {
	for _, r := range batch {
		switch {
		case !r.deferred:
		case err != nil:
			l.log.Error("audit record not written", "type", string(r.typ), "request_id", r.requestID, "error", err)
			l.failed()
		case l.onWrite != nil:
			l.onWrite(r.typ, r.outcome)
		}
	}
}

// countDeferred counts, with l.mu held, the deferred records of a batch
// that failed with err, for Flush.
func (l *Logger) countDeferred(batch []*pendingRecord, err error) {
	for _, r := range batch {
		if r.deferred {
			l.deferFail++
			l.deferErr = err
		}
	}
}

// settleLocked writes the queued records and waits, with l.mu held, until
// no write is in progress, so the chain head covers every record queued
// before the call and the output can be used; ErrClosed after Close. A
// deferred record that fails here was logged and counted.
func (l *Logger) settleLocked() error {
	if l.closed {
		return ErrClosed
	}
	_ = l.flushQueuedLocked()
	l.waitWrites()
	if l.closed {
		return ErrClosed
	}
	return nil
}

// waitWrites waits, with l.mu held, until no write is in progress, so the
// chain head, the output and l.line can be used.
func (l *Logger) waitWrites() {
	for l.writing {
		l.cond.Wait()
	}
}

// undoPartial removes the n bytes a failed write appended to a regular
// file, so the next record starts on a clean line. It reports success.
func (l *Logger) undoPartial(n int) bool {
	if !l.regular {
		return false
	}
	fi, err := l.file.Stat()
	if err != nil || fi.Size() < int64(n) {
		return false
	}
	return l.file.Truncate(fi.Size()-int64(n)) == nil
}

// sanitize returns what is safe to record of e: free text scrubbed of
// credentials and bounded, arguments redacted or dropped. When none of
// that changes anything, the usual case, it returns e itself; otherwise a
// copy in which only the sections that changed are new. e is never
// modified.
func (l *Logger) sanitize(e *Event) *Event {
	r := l.redact
	reqID, traceID, spanID := r.text(e.RequestID), r.text(e.TraceID), r.text(e.SpanID)
	changed := reqID != e.RequestID || traceID != e.TraceID || spanID != e.SpanID
	var src Source
	srcChanged := false
	if e.Source != nil {
		src = Source{IP: r.text(e.Source.IP), UserAgent: r.text(e.Source.UserAgent)}
		srcChanged = src != *e.Source
	}
	var m MCP
	mcpChanged := false
	if e.MCP != nil {
		m, mcpChanged = l.mcp(e.MCP)
	}
	var authzErrors []string
	authzChanged := false
	if e.Authz != nil {
		authzErrors, authzChanged = r.textsChanged(e.Authz.Errors, 0)
	}
	var er Error
	errChanged := false
	if e.Error != nil {
		er = Error{Kind: r.text(e.Error.Kind), Reason: r.text(e.Error.Reason), Message: r.text(e.Error.Message)}
		errChanged = er != *e.Error
	}
	details, detailsChanged := r.redactArguments(e.Details)
	if !changed && !srcChanged && !mcpChanged && !authzChanged && !errChanged && !detailsChanged {
		return e
	}
	// The copy and the sections it replaces are one allocation.
	p := &struct {
		ev    Event
		src   Source
		mcp   MCP
		authz Authz
		err   Error
	}{ev: *e}
	c := &p.ev
	c.RequestID, c.TraceID, c.SpanID = reqID, traceID, spanID
	if srcChanged {
		p.src = src
		c.Source = &p.src
	}
	if mcpChanged {
		p.mcp = m
		c.MCP = &p.mcp
	}
	if authzChanged {
		p.authz = *e.Authz
		p.authz.Errors = authzErrors
		c.Authz = &p.authz
	}
	if errChanged {
		p.err = er
		c.Error = &p.err
	}
	c.Details = details
	return c
}

// mcp returns the sanitized MCP section and whether it differs from in;
// when it does not, the result is in itself (its slices and maps are in's).
func (l *Logger) mcp(in *MCP) (MCP, bool) {
	r := l.redact
	m := MCP{
		Method:          r.text(in.Method),
		JSONRPCID:       l.jsonrpcID(in.JSONRPCID),
		Tool:            r.text(in.Tool),
		Prompt:          r.text(in.Prompt),
		ResourceURI:     r.text(in.ResourceURI),
		SessionID:       r.text(in.SessionID),
		ProtocolVersion: r.text(in.ProtocolVersion),
	}
	changed := m.Method != in.Method || !bytes.Equal(m.JSONRPCID, in.JSONRPCID) || m.Tool != in.Tool ||
		m.Prompt != in.Prompt || m.ResourceURI != in.ResourceURI || m.SessionID != in.SessionID ||
		m.ProtocolVersion != in.ProtocolVersion
	if l.args {
		var argsChanged bool
		m.Arguments, argsChanged = r.redactArguments(in.Arguments)
		changed = changed || argsChanged
		if c := in.CLI; c != nil {
			m.CLI = c
			if cli, cliChanged := l.cli(c); cliChanged {
				m.CLI = new(cli) // allocated only here
				changed = true
			}
		}
	} else if len(in.Arguments) > 0 || in.CLI != nil {
		changed = true // dropped
	}
	if in.Batch != nil {
		var batch []MCP // a copy once a message differs
		for i := range in.Batch {
			if b, bc := l.mcp(&in.Batch[i]); bc {
				if batch == nil {
					batch = slices.Clone(in.Batch)
				}
				batch[i] = b
			}
		}
		m.Batch = in.Batch
		if batch != nil {
			m.Batch, changed = batch, true
		}
	}
	if !changed {
		return *in, false
	}
	return m, true
}

// cli returns the sanitized CLI section and whether it differs from c.
func (l *Logger) cli(c *CLI) (CLI, bool) {
	r := l.redact
	out := CLI{Service: r.text(c.Service), Operation: r.text(c.Operation), ParseError: r.text(c.ParseError)}
	var oc, rc, pc bool
	out.Options, oc = r.textsChanged(c.Options, 0)
	out.Regions, rc = r.textsChanged(c.Regions, 0)
	out.Operands, pc = r.textsChanged(c.Operands, MaxCLIOperands)
	if n := len(c.Operands) - MaxCLIOperands; n > 0 {
		out.OperandsOmitted = n + c.OperandsOmitted
	}
	changed := oc || rc || pc || out.Service != c.Service || out.Operation != c.Operation ||
		out.ParseError != c.ParseError || out.OperandsOmitted != c.OperandsOmitted
	return out, changed
}

// jsonrpcID keeps a number id as is and treats a string id as free text.
// Anything else is not a JSON-RPC id and is dropped.
func (l *Logger) jsonrpcID(id json.RawMessage) json.RawMessage {
	if len(id) == 0 {
		return nil
	}
	switch c := id[0]; {
	case c == '"':
		var s string
		if err := json.Unmarshal(id, &s); err != nil {
			return nil
		}
		b, err := json.Marshal(l.redact.text(s))
		if err != nil {
			return nil
		}
		return b
	case (c == '-' || c >= '0' && c <= '9') && len(id) <= 64 && (isValidNumber(id) || json.Valid(id)):
		return id
	}
	return nil
}

// bodyPool holds the buffers records are encoded into before they are
// sealed into the chain.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

func putBody(bp *[]byte) {
	if cap(*bp) <= 64<<10 {
		bodyPool.Put(bp)
	}
}

// newID writes a random (version 4) UUID from crypto/rand into s and
// returns it as a string that points into s: valid while s is.
func newID(s *[36]byte) string {
	var b [16]byte
	rand.Read(b[:]) // never fails: crypto/rand aborts the process instead
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return unsafe.String(&s[0], len(s))
}

// loop syncs a dirty file every syncEvery and writes a checkpoint every
// cpEvery (either 0: never) until Close.
func (l *Logger) loop(syncEvery, cpEvery time.Duration) {
	defer close(l.stopped)
	var syncC, cpC <-chan time.Time
	if syncEvery > 0 {
		t := time.NewTicker(syncEvery)
		defer t.Stop()
		syncC = t.C
	}
	if l.cpKey != nil && cpEvery > 0 {
		t := time.NewTicker(cpEvery)
		defer t.Stop()
		cpC = t.C
	}
	for {
		select {
		case <-l.stop:
			return
		case <-syncC:
			l.syncIfDirty()
		case <-cpC:
			if err := l.Checkpoint(CheckpointInterval); err != nil && !errors.Is(err, ErrClosed) {
				l.log.Error("audit checkpoint not written; retrying at the next interval", "error", err)
				l.failed()
			}
		}
	}
}

func (l *Logger) syncIfDirty() {
	l.mu.Lock()
	dirty := l.dirty
	l.dirty = false
	f := l.file
	l.mu.Unlock()
	if !dirty {
		return
	}
	if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
		l.log.Error("audit log sync failed; the next record will report it", "error", err)
		l.failed()
		l.mu.Lock()
		l.pending = err
		l.mu.Unlock()
	}
}

// Checkpoint signs the current chain head into the checkpoint file, after
// syncing the log so the checkpoint never anchors a record that is not on
// disk. It writes nothing when checkpoints are off, no record was written
// yet, or the head is already anchored. The background loop calls it every
// interval; Close and Reopen call it too.
func (l *Logger) Checkpoint(reason string) error {
	if l == nil || !l.enabled || l.cpKey == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.settleLocked(); err != nil {
		return err
	}
	return l.checkpointLocked(reason, false)
}

// checkpointLocked writes a checkpoint of the head; force writes one even
// when the head is already anchored (a rotation marks each file's end).
func (l *Logger) checkpointLocked(reason string, force bool) error {
	if l.cpKey == nil || l.seq == 0 || (!force && l.seq == l.cpSeq) {
		return nil
	}
	if l.regular {
		if err := l.file.Sync(); err != nil {
			return fmt.Errorf("sync audit log before checkpoint: %w", err)
		}
		l.dirty = false
	}
	c := Checkpoint{Seq: l.seq, Hash: string(l.prev[:]), Time: l.now().UTC(), Reason: reason}
	line := appendCheckpoint(nil, c, l.cpKey)
	fi, err := l.cpFile.Stat()
	if err != nil {
		return fmt.Errorf("stat audit checkpoints: %w", err)
	}
	if n, err := l.cpFile.Write(line); err != nil || n != len(line) {
		if n > 0 {
			_ = l.cpFile.Truncate(fi.Size()) // never leave half a line
		}
		if err == nil {
			err = io.ErrShortWrite
		}
		return fmt.Errorf("write audit checkpoint: %w", err)
	}
	if err := l.cpFile.Sync(); err != nil {
		return fmt.Errorf("sync audit checkpoints: %w", err)
	}
	l.cpSeq = l.seq
	if l.onCP != nil {
		l.onCP(c)
	}
	return nil
}

// Reopen reopens the output file by its path, for rotation: after
// logrotate (or an operator) renamed the file, SIGHUP makes mcpguard
// continue in a new file at the same path. The head is checkpointed first
// (reason rotate), and the new file's first record links to it (the next
// seq, prev_hash the head's hash). If the path still names the current
// file, nothing changes. A non-empty new file is accepted only when its
// last record is the current head; otherwise Reopen fails and records keep
// going to the old file. Outputs that are not files ignore Reopen.
func (l *Logger) Reopen() error {
	if l == nil || !l.enabled || !l.ownsFile || !l.regular {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.settleLocked(); err != nil {
		return err
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("reopen audit log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("stat audit log: %w", err)
	}
	if os.SameFile(fi, l.fileInfo) {
		f.Close()
		return nil
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("reopen audit log %s: not a regular file", l.path)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return fmt.Errorf("lock audit log %s: %w", l.path, err)
	}
	if fi.Size() > 0 {
		r, err := os.Open(l.path)
		if err != nil {
			f.Close()
			return fmt.Errorf("open audit log for reading: %w", err)
		}
		prev, seq, err := lastRecord(r)
		r.Close()
		if err != nil || prev != string(l.prev[:]) || seq != l.seq {
			f.Close()
			return fmt.Errorf("reopen audit log %s: the file there holds other records (last seq %d, not %d); still writing to the previous file", l.path, seq, l.seq)
		}
	}
	if err := l.checkpointLocked(CheckpointRotate, true); err != nil {
		f.Close()
		return err
	}
	if err := l.file.Sync(); err != nil {
		l.log.Error("sync the rotated audit log", "error", err)
	}
	old := l.file
	l.file, l.fileInfo, l.w = f, fi, f
	l.needNL, l.dirty = false, false
	if err := old.Close(); err != nil {
		l.log.Warn("close the rotated audit log", "error", err)
	}
	return nil
}

// Close stops the background loop, writes the queued records (a deferred
// record that fails here is logged, counted and reported in the error),
// checkpoints the head (reason close), syncs a file output that has a sync
// policy, and closes it. Record fails after Close. Close is idempotent.
func (l *Logger) Close() error {
	if l == nil || !l.enabled {
		return nil
	}
	l.closeOnce.Do(func() {
		if l.stop != nil {
			close(l.stop)
			<-l.stopped
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		l.closed = true // no record is queued from now on
		if l.timer != nil && l.timer.Stop() {
			l.armed = false
		}
		var errs []error
		failed := l.deferFail
		for l.writing || len(l.queue) > 0 {
			if l.writing {
				l.cond.Wait()
				continue
			}
			l.flushLocked()
		}
		if n := l.deferFail - failed; n > 0 {
			errs = append(errs, fmt.Errorf("%d deferred audit records not written: %w", n, l.deferErr))
		}
		l.shut = true
		if err := l.checkpointLocked(CheckpointClose, false); err != nil {
			errs = append(errs, err)
		}
		if l.regular && l.fsync != "" && l.fsync != FsyncNever {
			if err := l.file.Sync(); err != nil {
				errs = append(errs, fmt.Errorf("sync audit log: %w", err))
			}
		}
		errs = append(errs, l.closeFiles())
		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
}

// closeFiles closes the files the logger opened.
func (l *Logger) closeFiles() error {
	var errs []error
	if l.ownsFile && l.file != nil {
		if err := l.file.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close audit log: %w", err))
		}
	}
	if l.cpFile != nil {
		if err := l.cpFile.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close audit checkpoints: %w", err))
		}
	}
	return errors.Join(errs...)
}
