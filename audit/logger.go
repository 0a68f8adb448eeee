package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
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
	// Logger receives background fsync failures; nil discards them.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// OnWrite is called after each record is written, for metrics.
	OnWrite func(typ Type, outcome Outcome)
	// OnWriteFailure is called when a record cannot be written or synced.
	OnWriteFailure func()
}

// Logger writes tamper-evident audit records, one JSON object per line.
// It is safe for concurrent use. A nil *Logger, like a disabled one,
// accepts and discards every event.
type Logger struct {
	enabled    bool
	failClosed bool
	w          io.Writer
	file       *os.File // the output when it is a file we opened
	regular    bool     // file is a regular file (syncable, resumable)
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

	// broken is set while writes fail.
	broken atomic.Bool

	mu       sync.Mutex
	seq      uint64
	prev     string
	line     []byte
	dirty    bool
	pending  error // a background fsync failure not yet reported
	needNL   bool  // a partial line was left behind by a failed write
	closed   bool
	stop     chan struct{}
	stopped  chan struct{}
	closeErr error
}

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
		prev:      Genesis,
	}
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
	if l.regular && o.Fsync == FsyncInterval {
		every := o.FsyncInterval
		if every <= 0 {
			every = time.Second
		}
		l.stop, l.stopped = make(chan struct{}), make(chan struct{})
		go l.syncLoop(every)
	}
	return l, nil
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
	l.file, l.w, l.ownsFile = f, f, true
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
	l.prev, l.seq = prev, seq
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

// record is what is encoded for each event, before the chain fields.
type record struct {
	Schema  string    `json:"schema"`
	Time    time.Time `json:"time"`
	AuditID string    `json:"audit_id"`
	*Event
}

// Record writes one event. It fills schema, time (UTC), audit_id, seq and
// the hash chain, redacts and truncates a copy of the event's free text and
// arguments (the caller's event is never modified), and writes the line in
// one call. An event whose type is filtered out returns nil unwritten. The
// error reports an invalid event or a failed write or sync; the caller
// decides per FailClosed.
func (l *Logger) Record(_ context.Context, e *Event) error {
	if l == nil || !l.enabled {
		return nil
	}
	if e == nil {
		return errors.New("record audit event: nil event")
	}
	if !e.Type.Valid() {
		return fmt.Errorf("record audit event: unknown type %q", e.Type)
	}
	if !e.Outcome.Valid() {
		return fmt.Errorf("record audit event %s: unknown outcome %q", e.Type, e.Outcome)
	}
	if !l.Enabled(e.Type) {
		return nil
	}
	body, err := json.Marshal(record{
		Schema:  Schema,
		Time:    l.now().UTC(),
		AuditID: newID(),
		Event:   l.sanitize(e),
	})
	if err != nil {
		l.failed()
		return fmt.Errorf("encode audit event %s: %w", e.Type, err)
	}
	if err := l.write(body); err != nil {
		l.broken.Store(true)
		l.failed()
		return fmt.Errorf("write audit event %s: %w", e.Type, err)
	}
	l.broken.Store(false)
	if l.onWrite != nil {
		l.onWrite(e.Type, e.Outcome)
	}
	return nil
}

// Healthy reports whether the last write succeeded. Under on_failure: deny
// the gateway refuses to forward requests while it is false; the next
// successful write (the refusal's own record) makes it true again.
func (l *Logger) Healthy() bool {
	return l == nil || !l.enabled || !l.broken.Load()
}

func (l *Logger) failed() {
	if l.onFailure != nil {
		l.onFailure()
	}
}

// write seals body into the chain and writes it as one line. The chain
// advances only when the whole line was written.
func (l *Logger) write(body []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if err := l.pending; err != nil {
		l.pending = nil
		return fmt.Errorf("an earlier sync failed: %w", err)
	}
	buf := l.line[:0]
	if l.needNL {
		buf = append(buf, '\n')
	}
	buf, h := sealRecord(buf, body, l.seq+1, l.prev)
	l.line = buf
	n, err := l.w.Write(l.line)
	if err == nil && n < len(l.line) {
		err = io.ErrShortWrite
	}
	if err != nil {
		l.needNL = n > 0 && !l.undoPartial(n)
		return err
	}
	l.needNL = false
	l.seq++
	l.prev = h
	if cap(l.line) > 64<<10 {
		l.line = nil
	}
	if l.regular {
		switch l.fsync {
		case FsyncAlways:
			if err := l.file.Sync(); err != nil {
				return fmt.Errorf("sync: %w", err)
			}
		case FsyncInterval:
			l.dirty = true
		}
	}
	return nil
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

// sanitize returns a copy of e that is safe to record: free text scrubbed
// of credentials and bounded, arguments redacted or dropped.
func (l *Logger) sanitize(e *Event) *Event {
	c := *e
	r := l.redact
	c.RequestID = r.text(e.RequestID)
	c.TraceID = r.text(e.TraceID)
	c.SpanID = r.text(e.SpanID)
	if e.Source != nil {
		c.Source = &Source{IP: r.text(e.Source.IP), UserAgent: r.text(e.Source.UserAgent)}
	}
	if e.MCP != nil {
		m := l.mcp(e.MCP)
		c.MCP = &m
	}
	if e.Authz != nil {
		a := *e.Authz
		a.Errors = texts(r, e.Authz.Errors)
		c.Authz = &a
	}
	if e.Error != nil {
		c.Error = &Error{Kind: r.text(e.Error.Kind), Reason: r.text(e.Error.Reason), Message: r.text(e.Error.Message)}
	}
	if e.Details != nil {
		c.Details = r.arguments(e.Details)
	}
	return &c
}

func (l *Logger) mcp(in *MCP) MCP {
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
	if l.args {
		m.Arguments = r.arguments(in.Arguments)
		if c := in.CLI; c != nil {
			m.CLI = &CLI{Service: r.text(c.Service), Operation: r.text(c.Operation), ParseError: r.text(c.ParseError),
				Options: r.texts(c.Options, 0), Regions: r.texts(c.Regions, 0)}
			m.CLI.Operands = r.texts(c.Operands, MaxCLIOperands)
			if n := len(c.Operands) - MaxCLIOperands; n > 0 {
				m.CLI.OperandsOmitted = n + c.OperandsOmitted
			}
		}
	}
	if in.Batch != nil {
		m.Batch = make([]MCP, len(in.Batch))
		for i := range in.Batch {
			m.Batch[i] = l.mcp(&in.Batch[i])
		}
	}
	return m
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
	case (c == '-' || c >= '0' && c <= '9') && len(id) <= 64 && json.Valid(id):
		return id
	}
	return nil
}

func texts(r *redactor, in []string) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = r.text(s)
	}
	return out
}

// newID returns a random (version 4) UUID from crypto/rand.
func newID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails: crypto/rand aborts the process instead
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return string(s[:])
}

// syncLoop syncs a dirty file every period until Close.
func (l *Logger) syncLoop(every time.Duration) {
	defer close(l.stopped)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.syncIfDirty()
		}
	}
}

func (l *Logger) syncIfDirty() {
	l.mu.Lock()
	dirty := l.dirty
	l.dirty = false
	l.mu.Unlock()
	if !dirty {
		return
	}
	if err := l.file.Sync(); err != nil {
		l.log.Error("audit log sync failed; the next record will report it", "error", err)
		l.failed()
		l.mu.Lock()
		l.pending = err
		l.mu.Unlock()
	}
}

// Close stops the sync loop, syncs a file output that has a sync policy,
// and closes it. Record fails after Close. Close is idempotent.
func (l *Logger) Close() error {
	if l == nil || !l.enabled {
		return nil
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return l.closeErr
	}
	l.closed = true
	l.mu.Unlock()
	if l.stop != nil {
		close(l.stop)
		<-l.stopped
	}
	var errs []error
	if l.regular && l.fsync != "" && l.fsync != FsyncNever {
		if err := l.file.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("sync audit log: %w", err))
		}
	}
	if l.ownsFile {
		if err := l.file.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close audit log: %w", err))
		}
	}
	l.closeErr = errors.Join(errs...)
	return l.closeErr
}
