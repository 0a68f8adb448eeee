package toolpin

import (
	"bytes"
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

// Version is one definition of a tool: its digest and canonical form.
type Version struct {
	Digest string
	// Definition is the canonical JSON of the whole tool object.
	Definition json.RawMessage
	// At is when it was pinned (approved versions) or first seen
	// (pending ones).
	At time.Time
}

// Entry is what the store knows about one tool of one upstream.
type Entry struct {
	Upstream, Tool string
	// Approved is the definition in force.
	Approved Version
	// Pending, when its Digest is not "", is a different definition seen
	// since and not yet approved.
	Pending Version
}

// Seen is one tool definition a list showed.
type Seen struct {
	Tool       string
	Digest     string
	Definition json.RawMessage // canonical
}

// fileVersion is the store format this package reads and writes. Version 1
// (digests of name, description, inputSchema and annotations only, keyed
// by tool name alone) is refused: its digests cannot be compared with
// whole-definition digests, and it does not say which upstream a pin
// belongs to.
const fileVersion = 2

// storeFile is the store's JSON document.
type storeFile struct {
	Version   int                               `json:"version"`
	Upstreams map[string]map[string]*storeEntry `json:"upstreams"`
}

type storeEntry struct {
	Digest     string          `json:"digest"`
	Definition json.RawMessage `json:"definition"`
	PinnedAt   time.Time       `json:"pinned_at"`
	Pending    *storePending   `json:"pending,omitempty"`
}

type storePending struct {
	Digest     string          `json:"digest"`
	Definition json.RawMessage `json:"definition"`
	Since      time.Time       `json:"since"`
}

// key names one pin.
type key struct{ upstream, tool string }

// Store keeps approved tool definitions in a JSON file shared by the
// server (which records what it sees) and the CLI (which approves
// changes). Every write re-reads the file under an exclusive lock on
// FILE.lock and replaces it atomically (temporary file, fsync, rename), so
// concurrent writers in different processes never lose an update and
// readers never see half a file. Lookups answer from memory; Refresh picks
// up other processes' writes. A Store is safe for concurrent use.
type Store struct {
	path string
	now  func() time.Time

	mu      sync.RWMutex
	entries map[key]Entry
	stat    fs.FileInfo // of the file the memory copy came from; nil when absent
}

// OpenStore loads the store at path; a missing file is an empty store,
// created on the first write. now stamps records; nil means time.Now.
func OpenStore(path string, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	s := &Store{path: path, now: now, entries: map[key]Entry{}}
	if err := s.Refresh(); err != nil {
		return nil, err
	}
	return s, nil
}

// Path is the store's file.
func (s *Store) Path() string { return s.path }

// Refresh reloads the file when another process replaced it since it was
// last read.
func (s *Store) Refresh() error {
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
	entries, fi, err := readStore(s.path)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.entries, s.stat = entries, fi
	s.mu.Unlock()
	return nil
}

func sameFile(a, b fs.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// ErrOldFormat is a store file in the version 1 format.
var ErrOldFormat = errors.New("pin store is in the version 1 format")

// readStore reads and validates the file; a missing file is empty. Every
// definition is re-canonicalized and must hash to its digest, so an edited
// definition cannot pose as the approved one.
func readStore(path string) (map[key]Entry, fs.FileInfo, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[key]Entry{}, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read pin store: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("stat pin store: %w", err)
	}
	entries, err := parseStore(path, data)
	if err != nil {
		return nil, nil, err
	}
	return entries, fi, nil
}

// parseStore decodes and validates the store document read from path.
func parseStore(path string, data []byte) (map[key]Entry, error) {
	var probe struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("read pin store %s: %w", path, err)
	}
	switch probe.Version {
	case fileVersion:
	case 1:
		return nil, fmt.Errorf("read pin store %s: %w: it pinned only a tool's name, description, inputSchema "+
			"and annotations and did not record the upstream, so it cannot be migrated; move it aside and let "+
			"mcpguard pin every tool again on first sight (then review them with `mcpguard tools approve --store %s`)",
			path, ErrOldFormat, path)
	default:
		return nil, fmt.Errorf("read pin store %s: unsupported version %d", path, probe.Version)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var doc storeFile
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("read pin store %s: %w", path, err)
	}
	entries := map[key]Entry{}
	for up, tools := range doc.Upstreams {
		if up == "" {
			return nil, fmt.Errorf("read pin store %s: empty upstream name", path)
		}
		for name, p := range tools {
			e, err := entryOf(up, name, p)
			if err != nil {
				return nil, fmt.Errorf("read pin store %s: upstream %q tool %q: %w", path, up, name, err)
			}
			entries[key{up, name}] = e
		}
	}
	return entries, nil
}

func entryOf(up, name string, p *storeEntry) (Entry, error) {
	if p == nil || name == "" {
		return Entry{}, errors.New("invalid entry")
	}
	approved, err := versionOf(name, p.Digest, p.Definition, p.PinnedAt)
	if err != nil {
		return Entry{}, fmt.Errorf("approved definition: %w", err)
	}
	e := Entry{Upstream: up, Tool: name, Approved: approved}
	if p.Pending != nil {
		if e.Pending, err = versionOf(name, p.Pending.Digest, p.Pending.Definition, p.Pending.Since); err != nil {
			return Entry{}, fmt.Errorf("pending definition: %w", err)
		}
	}
	return e, nil
}

func versionOf(name, digest string, def json.RawMessage, at time.Time) (Version, error) {
	if !ValidDigest(digest) {
		return Version{}, fmt.Errorf("invalid digest %q", digest)
	}
	c, err := Canonical(def)
	if err != nil {
		return Version{}, err
	}
	if digestOf(c) != digest {
		return Version{}, errors.New("the digest does not match the definition")
	}
	var n struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(c, &n); err != nil || n.Name != name {
		return Version{}, fmt.Errorf("the definition names tool %q", n.Name)
	}
	return Version{Digest: digest, Definition: c, At: at}, nil
}

// Lookup returns the entry of one tool, from memory.
func (s *Store) Lookup(upstream, tool string) (Entry, bool) {
	s.mu.RLock()
	e, ok := s.entries[key{upstream, tool}]
	s.mu.RUnlock()
	return e, ok
}

// Record stores what one list of upstream showed: a new tool is pinned to
// its definition; a changed one keeps its approved definition and gets the
// new one as pending (replacing an older pending one); a tool back at its
// approved definition loses its pending change. The file is written once,
// and only when something changed.
func (s *Store) Record(upstream string, seen ...Seen) error {
	if upstream == "" {
		return errors.New("record tool pins: empty upstream")
	}
	for _, p := range seen {
		if p.Tool == "" || !ValidDigest(p.Digest) || len(p.Definition) == 0 {
			return fmt.Errorf("record tool pin: invalid pin for %q", p.Tool)
		}
	}
	return s.update(func(entries map[key]Entry) (bool, error) {
		now := s.now().UTC()
		changed := false
		for _, p := range seen {
			k := key{upstream, p.Tool}
			cur, ok := entries[k]
			v := Version{Digest: p.Digest, Definition: p.Definition, At: now}
			switch {
			case !ok:
				entries[k] = Entry{Upstream: upstream, Tool: p.Tool, Approved: v}
			case cur.Approved.Digest == p.Digest:
				if cur.Pending.Digest == "" {
					continue
				}
				cur.Pending = Version{}
				entries[k] = cur
			case cur.Pending.Digest == p.Digest:
				continue
			default:
				cur.Pending = v
				entries[k] = cur
			}
			changed = true
		}
		return changed, nil
	})
}

// ErrNoPendingChange is an approval for a tool with no recorded change.
var ErrNoPendingChange = errors.New("no pending change")

// ErrDigestMismatch is an approval naming a digest other than the pending
// one: the definition changed again after the operator reviewed it.
var ErrDigestMismatch = errors.New("the pending definition is not the one named")

// ErrAmbiguous is an approval without an upstream for a tool that awaits
// approval on several upstreams.
var ErrAmbiguous = errors.New("tool is pending on several upstreams")

// Approve makes the pending definition of a tool the approved one. digest
// is required and must equal the pending digest, so an operator approves
// exactly the definition they reviewed and never one that changed in
// between. upstream may be "" when only one upstream has that tool
// pending. It returns the entry as it was before the approval.
func (s *Store) Approve(upstream, tool, digest string) (Entry, error) {
	if !ValidDigest(digest) {
		return Entry{}, fmt.Errorf("approve %q: %q is not a digest (sha256:<64 hex>)", tool, digest)
	}
	var done Entry
	err := s.update(func(entries map[key]Entry) (bool, error) {
		k, err := pendingKey(entries, upstream, tool)
		if err != nil {
			return false, err
		}
		cur := entries[k]
		if cur.Pending.Digest != digest {
			return false, fmt.Errorf("approve %q of %s: pending digest is %s, not %s: %w", tool, k.upstream, cur.Pending.Digest, digest, ErrDigestMismatch)
		}
		done = cur
		entries[k] = Entry{Upstream: k.upstream, Tool: tool, Approved: Version{Digest: cur.Pending.Digest, Definition: cur.Pending.Definition, At: s.now().UTC()}}
		return true, nil
	})
	return done, err
}

// PendingFor returns the pending entry Approve would act on, from the file
// as it is now.
func (s *Store) PendingFor(upstream, tool string) (Entry, error) {
	if err := s.Refresh(); err != nil {
		return Entry{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, err := pendingKey(s.entries, upstream, tool)
	if err != nil {
		return Entry{}, err
	}
	return s.entries[k], nil
}

func pendingKey(entries map[key]Entry, upstream, tool string) (key, error) {
	if upstream != "" {
		k := key{upstream, tool}
		if e, ok := entries[k]; ok && e.Pending.Digest != "" {
			return k, nil
		}
		return key{}, fmt.Errorf("approve %q of %s: %w", tool, upstream, ErrNoPendingChange)
	}
	var found []key
	for k, e := range entries {
		if k.tool == tool && e.Pending.Digest != "" {
			found = append(found, k)
		}
	}
	switch len(found) {
	case 0:
		return key{}, fmt.Errorf("approve %q: %w", tool, ErrNoPendingChange)
	case 1:
		return found[0], nil
	}
	return key{}, fmt.Errorf("approve %q: %w; name one with --upstream", tool, ErrAmbiguous)
}

// Pending lists the entries with a change awaiting approval, sorted by
// upstream and tool, as of the last Refresh or write.
func (s *Store) Pending() []Entry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Entry
	for _, e := range s.entries {
		if e.Pending.Digest != "" {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b Entry) int {
		if c := strings.Compare(a.Upstream, b.Upstream); c != 0 {
			return c
		}
		return strings.Compare(a.Tool, b.Tool)
	})
	return out
}

// update runs fn on the file's current content under the cross-process
// lock and writes the result when fn reports a change.
func (s *Store) update(fn func(map[key]Entry) (bool, error)) error {
	unlock, err := lockFile(s.path + ".lock")
	if err != nil {
		return fmt.Errorf("lock pin store: %w", err)
	}
	defer unlock()
	entries, fi, err := readStore(s.path)
	if err != nil {
		return err
	}
	changed, err := fn(entries)
	if err != nil {
		return err
	}
	if changed {
		if fi, err = writeStore(s.path, entries); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.entries, s.stat = entries, fi
	s.mu.Unlock()
	return nil
}

// writeStore replaces the file atomically and returns the new file's info.
func writeStore(path string, entries map[key]Entry) (fs.FileInfo, error) {
	doc := storeFile{Version: fileVersion, Upstreams: map[string]map[string]*storeEntry{}}
	for k, e := range entries {
		tools := doc.Upstreams[k.upstream]
		if tools == nil {
			tools = map[string]*storeEntry{}
			doc.Upstreams[k.upstream] = tools
		}
		se := &storeEntry{Digest: e.Approved.Digest, Definition: e.Approved.Definition, PinnedAt: e.Approved.At}
		if e.Pending.Digest != "" {
			se.Pending = &storePending{Digest: e.Pending.Digest, Definition: e.Pending.Definition, Since: e.Pending.At}
		}
		tools[k.tool] = se
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
