package mcp

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// PinMode is the tool_pinning mode: what a changed tool definition costs.
type PinMode string

// The pinning modes.
const (
	// PinOff neither records nor checks definitions.
	PinOff PinMode = "off"
	// PinWarn records definitions and reports changes, but keeps the tool.
	PinWarn PinMode = "warn"
	// PinEnforce removes a changed tool from lists and denies calls to it
	// until an operator approves the new definition.
	PinEnforce PinMode = "enforce"
)

// PinStatus is how a tool definition compares with the pinned one.
type PinStatus int

// The pin statuses.
const (
	// PinNew is a tool never seen before; it is pinned on first use.
	PinNew PinStatus = iota + 1
	// PinSame is a definition equal to the approved one.
	PinSame
	// PinChanged is a definition that differs from the approved one.
	PinChanged
)

// String names the status for logs and audit records.
func (s PinStatus) String() string {
	switch s {
	case PinNew:
		return "new"
	case PinSame:
		return "same"
	case PinChanged:
		return "changed"
	}
	return "unknown"
}

// Audit event names Decide returns.
const (
	PinEventPinned  = "tool_pinned"             // a new tool's definition was recorded
	PinEventChanged = "tool_definition_changed" // a changed tool stays listed (warn)
	PinEventBlocked = "tool_definition_blocked" // a changed tool is removed and its calls denied (enforce)
)

// Decide applies a mode to a status: whether the tool stays in the list and
// which audit event to record ("" for none). New tools are trusted on first
// use. An unknown mode removes every tool, so a misconfiguration fails
// closed.
func Decide(mode PinMode, status PinStatus) (keep bool, event string) {
	switch mode {
	case PinOff:
		return true, ""
	case PinWarn, PinEnforce:
	default:
		return false, PinEventBlocked
	}
	switch status {
	case PinNew:
		return true, PinEventPinned
	case PinSame:
		return true, ""
	case PinChanged:
		if mode == PinWarn {
			return true, PinEventChanged
		}
		return false, PinEventBlocked
	}
	return false, PinEventBlocked
}

// ToolDigest fingerprints the parts of a tool definition that tell a model
// what the tool does: name, description, inputSchema and annotations. It
// is "sha256:" and the hex SHA-256 of their canonical JSON: an object of
// the members present, keys sorted at every depth, no insignificant
// whitespace, strings escaped as encoding/json does, numbers as written.
// Re-ordering keys or re-indenting does not change the digest; any change
// of content, even of a number's spelling, does. raw must be strict JSON
// (as Parse defines it) with a non-empty string name.
func ToolDigest(raw json.RawMessage) (string, error) {
	v, err := DecodeValue(raw)
	if err != nil {
		return "", fmt.Errorf("digest tool: %w", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return "", errors.New("digest tool: definition is not an object")
	}
	if name, ok := obj["name"].(string); !ok || name == "" {
		return "", errors.New("digest tool: name is missing or not a string")
	}
	canon := make(map[string]any, 4)
	for _, k := range [...]string{"name", "description", "inputSchema", "annotations"} {
		if x, ok := obj[k]; ok {
			canon[k] = x
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(canon); err != nil {
		return "", fmt.Errorf("digest tool: %w", err)
	}
	sum := sha256.Sum256(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// ToolPin is one tool definition seen in a list.
type ToolPin struct {
	Name   string
	Digest string
}

// PinChange is a definition seen since the approved one and not yet
// approved.
type PinChange struct {
	Name     string
	Approved string // the digest in force
	Pending  string // the digest seen
	Since    time.Time
}

// pinFile is the store's JSON document.
type pinFile struct {
	Version int                `json:"version"`
	Tools   map[string]*pinned `json:"tools"`
}

type pinned struct {
	Digest       string    `json:"digest"`
	PinnedAt     time.Time `json:"pinned_at"`
	Pending      string    `json:"pending,omitempty"`
	PendingSince time.Time `json:"pending_since,omitzero"`
}

const pinFileVersion = 1

// PinStore keeps approved tool digests in a JSON file shared by the server
// (which records what it sees) and the CLI (which approves changes). Every
// write re-reads the file under an exclusive lock on FILE.lock and replaces
// it atomically (temporary file, fsync, rename), so concurrent writers in
// different processes never lose an update and readers never see half a
// file. Check answers from memory; Refresh picks up other processes'
// writes. A PinStore is safe for concurrent use.
type PinStore struct {
	path string
	now  func() time.Time

	mu    sync.RWMutex
	tools map[string]pinned
	stat  fs.FileInfo // of the file the memory copy came from; nil when absent

	digestMu sync.Mutex
	digests  map[[sha256.Size]byte]string // SHA-256 of a raw definition → its ToolDigest
}

// maxCachedDigests bounds the digest cache; it is emptied when full.
const maxCachedDigests = 4096

// Digest is ToolDigest with a cache keyed by the SHA-256 of the raw bytes:
// a server sends the same bytes in every list, and hashing them costs a
// small fraction of canonicalising them.
func (s *PinStore) Digest(raw json.RawMessage) (string, error) {
	key := sha256.Sum256(raw)
	s.digestMu.Lock()
	d, ok := s.digests[key]
	s.digestMu.Unlock()
	if ok {
		return d, nil
	}
	d, err := ToolDigest(raw)
	if err != nil {
		return "", err
	}
	s.digestMu.Lock()
	if s.digests == nil || len(s.digests) >= maxCachedDigests {
		s.digests = make(map[[sha256.Size]byte]string)
	}
	s.digests[key] = d
	s.digestMu.Unlock()
	return d, nil
}

// OpenPinStore loads the store at path; a missing file is an empty store,
// created on the first write. now stamps records; nil means time.Now.
func OpenPinStore(path string, now func() time.Time) (*PinStore, error) {
	if now == nil {
		now = time.Now
	}
	s := &PinStore{path: path, now: now, tools: map[string]pinned{}}
	if err := s.Refresh(); err != nil {
		return nil, err
	}
	return s, nil
}

// Refresh reloads the file when another process replaced it since it was
// last read. The caller runs it once per list response, before Check.
func (s *PinStore) Refresh() error {
	fi, err := os.Stat(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		fi, err = nil, nil
	}
	if err != nil {
		return fmt.Errorf("stat pin store: %w", err)
	}
	s.mu.RLock()
	same := sameFile(s.stat, fi)
	s.mu.RUnlock()
	if same {
		return nil
	}
	tools, fi, err := readPins(s.path)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.tools, s.stat = tools, fi
	s.mu.Unlock()
	return nil
}

func sameFile(a, b fs.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// readPins reads and validates the file; a missing file is empty.
func readPins(path string) (map[string]pinned, fs.FileInfo, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]pinned{}, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open pin store: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("stat pin store: %w", err)
	}
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	var doc pinFile
	if err := dec.Decode(&doc); err != nil {
		return nil, nil, fmt.Errorf("read pin store %s: %w", path, err)
	}
	if doc.Version != pinFileVersion {
		return nil, nil, fmt.Errorf("read pin store %s: unsupported version %d", path, doc.Version)
	}
	tools := make(map[string]pinned, len(doc.Tools))
	for name, p := range doc.Tools {
		if p == nil || name == "" || !validDigest(p.Digest) || (p.Pending != "" && !validDigest(p.Pending)) {
			return nil, nil, fmt.Errorf("read pin store %s: invalid entry for tool %q", path, name)
		}
		tools[name] = *p
	}
	return tools, fi, nil
}

// validDigest accepts what ToolDigest produces.
func validDigest(d string) bool {
	hexPart, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hexPart) != 2*sha256.Size {
		return false
	}
	_, err := hex.DecodeString(hexPart)
	return err == nil && strings.ToLower(hexPart) == hexPart
}

// Check compares a definition with the approved one, from memory.
func (s *PinStore) Check(name, digest string) PinStatus {
	s.mu.RLock()
	p, ok := s.tools[name]
	s.mu.RUnlock()
	switch {
	case !ok:
		return PinNew
	case p.Digest == digest:
		return PinSame
	}
	return PinChanged
}

// Blocked reports whether the tool has a recorded change that no operator
// approved. In enforce mode calls to such a tool are denied: the call does
// not carry the definition, so the store's record decides.
func (s *PinStore) Blocked(name string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tools[name].Pending != ""
}

// Record stores what a list showed: a new tool is pinned to its digest; a
// changed one keeps its approved digest and gets the new one as pending
// (for Approve); a tool back at its approved digest loses its pending
// change. The file is written once, and only when something changed.
func (s *PinStore) Record(pins ...ToolPin) error {
	for _, p := range pins {
		if p.Name == "" || !validDigest(p.Digest) {
			return fmt.Errorf("record tool pin: invalid pin for %q", p.Name)
		}
	}
	return s.update(func(tools map[string]pinned) (bool, error) {
		now := s.now().UTC()
		changed := false
		for _, p := range pins {
			cur, ok := tools[p.Name]
			switch {
			case !ok:
				tools[p.Name] = pinned{Digest: p.Digest, PinnedAt: now}
			case cur.Digest == p.Digest:
				if cur.Pending == "" {
					continue
				}
				cur.Pending, cur.PendingSince = "", time.Time{}
				tools[p.Name] = cur
			case cur.Pending == p.Digest:
				continue
			default:
				cur.Pending, cur.PendingSince = p.Digest, now
				tools[p.Name] = cur
			}
			changed = true
		}
		return changed, nil
	})
}

// ErrNoPendingChange is an approval for a tool with no recorded change, or
// with a change other than the digest named.
var ErrNoPendingChange = errors.New("no pending change")

// Approve makes the pending definition of a tool the approved one. digest,
// when not "", must equal the pending digest, so an operator approves
// exactly the definition they reviewed. It returns the change it approved:
// Pending is now in force, Approved was before.
func (s *PinStore) Approve(name, digest string) (PinChange, error) {
	var done PinChange
	err := s.update(func(tools map[string]pinned) (bool, error) {
		cur, ok := tools[name]
		if !ok || cur.Pending == "" {
			return false, fmt.Errorf("approve %q: %w", name, ErrNoPendingChange)
		}
		if digest != "" && digest != cur.Pending {
			return false, fmt.Errorf("approve %q: pending digest is %s, not %s: %w", name, cur.Pending, digest, ErrNoPendingChange)
		}
		done = PinChange{Name: name, Approved: cur.Digest, Pending: cur.Pending, Since: cur.PendingSince}
		tools[name] = pinned{Digest: cur.Pending, PinnedAt: s.now().UTC()}
		return true, nil
	})
	return done, err
}

// ApproveAll approves every pending change and returns them as Approve
// does, sorted by name.
func (s *PinStore) ApproveAll() ([]PinChange, error) {
	var done []PinChange
	err := s.update(func(tools map[string]pinned) (bool, error) {
		done = pendingOf(tools)
		now := s.now().UTC()
		for _, c := range done {
			tools[c.Name] = pinned{Digest: c.Pending, PinnedAt: now}
		}
		return len(done) > 0, nil
	})
	return done, err
}

// Pending lists the changes awaiting approval, sorted by name, as of the
// last Refresh or write.
func (s *PinStore) Pending() []PinChange {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return pendingOf(s.tools)
}

func pendingOf(tools map[string]pinned) []PinChange {
	var out []PinChange
	for name, p := range tools {
		if p.Pending != "" {
			out = append(out, PinChange{Name: name, Approved: p.Digest, Pending: p.Pending, Since: p.PendingSince})
		}
	}
	slices.SortFunc(out, func(a, b PinChange) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// update runs fn on the file's current content under the cross-process
// lock and writes the result when fn reports a change.
func (s *PinStore) update(fn func(map[string]pinned) (bool, error)) error {
	unlock, err := lockFile(s.path + ".lock")
	if err != nil {
		return fmt.Errorf("lock pin store: %w", err)
	}
	defer unlock()
	tools, fi, err := readPins(s.path)
	if err != nil {
		return err
	}
	changed, err := fn(tools)
	if err != nil {
		return err
	}
	if changed {
		if fi, err = writePins(s.path, tools); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.tools, s.stat = tools, fi
	s.mu.Unlock()
	return nil
}

// writePins replaces the file atomically and returns the new file's info.
func writePins(path string, tools map[string]pinned) (fs.FileInfo, error) {
	doc := pinFile{Version: pinFileVersion, Tools: make(map[string]*pinned, len(tools))}
	for name := range tools {
		p := tools[name]
		doc.Tools[name] = &p
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode pin store: %w", err)
	}
	data = append(data, '\n')
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("write pin store: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("write pin store: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("write pin store: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("write pin store: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return nil, fmt.Errorf("write pin store: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("stat pin store: %w", err)
	}
	return fi, nil
}
