package toolpin

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/mcpguard/mcpguard"
)

// Mode is the tool_pinning mode: what a changed tool definition costs.
type Mode string

// The pinning modes.
const (
	// Off neither records nor checks definitions; duplicate names in one
	// list still fail.
	Off Mode = "off"
	// Warn records definitions and reports changes, but keeps the tool.
	Warn Mode = "warn"
	// Enforce removes a changed tool from lists and refuses calls to it
	// until an operator approves the new definition, and refuses calls to
	// a tool no list of the upstream ever showed.
	Enforce Mode = "enforce"
)

// Audit event names a list check reports (Result.Events keys).
const (
	EventPinned  = "tool_pinned"             // a new tool's definition was recorded
	EventChanged = "tool_definition_changed" // a changed tool stays listed (warn)
	EventBlocked = "tool_definition_blocked" // a changed tool is removed and its calls refused (enforce)
)

// ErrDuplicateTool fails a list that names one tool twice.
var ErrDuplicateTool = errors.New("the list names a tool twice")

// Guard applies a pinning mode to a store. It is safe for concurrent use.
type Guard struct {
	mode  Mode
	store *Store

	digestMu sync.Mutex
	digests  map[[sha256.Size]byte]canon // SHA-256 of a raw definition → its canonical form
}

type canon struct {
	digest string
	def    json.RawMessage
}

// maxCachedDigests bounds the digest cache; it is emptied when full.
const maxCachedDigests = 4096

// NewGuard returns a guard; store may be nil only in mode Off.
func NewGuard(mode Mode, store *Store) (*Guard, error) {
	switch mode {
	case Off:
	case Warn, Enforce:
		if store == nil {
			return nil, fmt.Errorf("tool pinning mode %s needs a store", mode)
		}
	default:
		return nil, fmt.Errorf("tool pinning mode must be off, warn or enforce, got %q", mode)
	}
	return &Guard{mode: mode, store: store}, nil
}

// Mode is the guard's mode.
func (g *Guard) Mode() Mode { return g.mode }

// canonical is Canonical and its digest, cached by the SHA-256 of the raw
// bytes: a server sends the same bytes in every list, and hashing them
// costs a small fraction of canonicalizing them.
func (g *Guard) canonical(raw json.RawMessage) (canon, error) {
	k := sha256.Sum256(raw)
	g.digestMu.Lock()
	c, ok := g.digests[k]
	g.digestMu.Unlock()
	if ok {
		return c, nil
	}
	def, err := Canonical(raw)
	if err != nil {
		return canon{}, err
	}
	c = canon{digest: digestOf(def), def: def}
	g.digestMu.Lock()
	if g.digests == nil || len(g.digests) >= maxCachedDigests {
		g.digests = make(map[[sha256.Size]byte]canon)
	}
	g.digests[k] = c
	g.digestMu.Unlock()
	return c, nil
}

// ListCheck judges the tools of one tools/list response. Keep is called
// for each tool in list order, then Done once.
type ListCheck struct {
	g        *Guard
	upstream string
	names    map[string]struct{}
	dup      string
	seen     []Seen
	events   map[string][]string
}

// List starts the check of one tools/list response of upstream, reading
// the store's latest state.
func (g *Guard) List(upstream string) (*ListCheck, error) {
	if g.mode != Off {
		if err := g.store.Refresh(); err != nil {
			return nil, mcpguard.E(mcpguard.KindInternal, "tool pin store unreadable", err)
		}
	}
	return &ListCheck{g: g, upstream: upstream, names: map[string]struct{}{}}, nil
}

// Keep reports whether a listed tool may stay in the list. raw is the
// whole tool object as the upstream sent it. A definition that cannot be
// canonicalized is removed; a second tool of one name fails the list in
// Done.
func (c *ListCheck) Keep(name string, raw json.RawMessage) bool {
	if _, dup := c.names[name]; dup {
		if c.dup == "" {
			c.dup = name
		}
		return false
	}
	c.names[name] = struct{}{}
	if c.g.mode == Off {
		return true
	}
	cn, err := c.g.canonical(raw)
	if err != nil {
		return false
	}
	e, ok := c.g.store.Lookup(c.upstream, name)
	switch {
	case !ok:
		c.seen = append(c.seen, Seen{Tool: name, Digest: cn.digest, Definition: cn.def})
		c.event(EventPinned, name)
		return true
	case e.Approved.Digest == cn.digest:
		if e.Pending.Digest != "" {
			c.seen = append(c.seen, Seen{Tool: name, Digest: cn.digest, Definition: cn.def})
		}
		return true
	}
	c.seen = append(c.seen, Seen{Tool: name, Digest: cn.digest, Definition: cn.def})
	if c.g.mode == Warn {
		c.event(EventChanged, name)
		return true
	}
	c.event(EventBlocked, name)
	return false
}

func (c *ListCheck) event(ev, name string) {
	if c.events == nil {
		c.events = map[string][]string{}
	}
	c.events[ev] = append(c.events[ev], name)
}

// Result is what a list check found, for the log and the audit record.
type Result struct {
	// Events maps an event name (EventPinned, …) to the tools it concerns,
	// sorted.
	Events map[string][]string
}

// Done records the definitions seen and reports the events. Its error
// (a duplicate tool name, a store that cannot be written) means the list
// must not reach the client.
func (c *ListCheck) Done() (Result, error) {
	if c.dup != "" {
		return Result{}, mcpguard.E(mcpguard.KindInternal, fmt.Sprintf("the server listed tool %q twice", sanitize(c.dup)), ErrDuplicateTool)
	}
	if len(c.seen) > 0 {
		if err := c.g.store.Record(c.upstream, c.seen...); err != nil {
			return Result{}, mcpguard.E(mcpguard.KindInternal, "tool pins not recorded", err)
		}
	}
	for _, names := range c.events {
		sort.Strings(names)
	}
	return Result{Events: c.events}, nil
}

// CheckCall refuses, in enforce mode, a call to a tool whose definition
// changed and awaits approval, and a call to a tool no list of upstream
// ever showed: the call does not carry the definition, so the store's
// record decides.
func (g *Guard) CheckCall(upstream, tool string) error {
	if g.mode != Enforce {
		return nil
	}
	if err := g.store.Refresh(); err != nil {
		return mcpguard.E(mcpguard.KindInternal, "tool pin store unreadable", err)
	}
	e, ok := g.store.Lookup(upstream, tool)
	switch {
	case !ok:
		return mcpguard.Ef(mcpguard.KindForbidden, "tool %q was never listed by this server; list the tools (tools/list) before calling one", sanitize(tool))
	case e.Pending.Digest != "":
		return mcpguard.Ef(mcpguard.KindForbidden, "tool %q changed its definition and awaits an operator's approval", sanitize(tool))
	}
	return nil
}

// sanitize bounds a client-supplied name before it appears in a message.
func sanitize(s string) string {
	const max = 32
	out := make([]rune, 0, max)
	for _, r := range s {
		if len(out) >= max {
			return string(out) + "…"
		}
		if r < 0x20 || r == 0x7f || r == '"' || r == '\\' {
			r = '?'
		}
		out = append(out, r)
	}
	return string(out)
}
