package authz

import (
	"slices"
	"sync"

	"github.com/cedar-policy/cedar-go/types"
)

// mappedCall is what a tools/call's name, arguments and region map to
// before any policy is consulted: the Tool entity (with the arguments
// record), context.aws_cli when the arguments carry cli_command, and
// context.aws with its Cedar value. All of it is immutable once built, so
// one value serves every request that sends the same bytes.
type mappedCall struct {
	resource types.Entity
	cli      *types.Record
	aws      *AWSContext
	awsRec   types.Record
	// keyLen is the length of its call-cache key, set when the cache
	// takes it (0: not cached, so no decision is cached for it either).
	keyLen int
}

// Bounds of the mapped-call cache: entries, and bytes of keys (the
// arguments as sent), so a burst of large scripts cannot grow it without
// limit.
const (
	callCacheEntries  = 4096
	callCacheKeyBytes = 8 << 20
	// callCacheMaxKey is the largest key cached: larger arguments are
	// mapped on every request.
	callCacheMaxKey = 64 << 10
)

// callCache remembers mapped calls by tool name, region and the arguments
// exactly as sent. Equal bytes decode to equal arguments and the mapping
// depends on nothing else (the catalog, read class and script analyzer are
// fixed at New), so a hit returns what mapping them again would return;
// an aws___run_script analysis (tree-sitter, hundreds of microseconds) and
// a cli_command parse are done once per distinct call. Analyses that a
// transient condition made incomplete (a parse timeout under load) are
// not kept. When full, an arbitrary entry makes room.
type callCache struct {
	mu       sync.RWMutex
	m        map[string]*mappedCall
	keyBytes int
}

func newCallCache() *callCache { return &callCache{m: make(map[string]*mappedCall)} }

// callKey is the cache key of a tools/call: the fields are separated by
// a NUL, which a tool name (no control characters) and a region cannot
// hold, so distinct calls never share a key.
func callKey(buf []byte, tool, region string, args []byte) []byte {
	buf = append(buf, tool...)
	buf = append(buf, 0)
	buf = append(buf, region...)
	buf = append(buf, 0)
	return append(buf, args...)
}

func (c *callCache) get(key []byte) (*mappedCall, bool) {
	c.mu.RLock()
	mc, ok := c.m[string(key)]
	c.mu.RUnlock()
	return mc, ok
}

func (c *callCache) put(key []byte, mc *mappedCall) {
	if len(key) > callCacheMaxKey || transient(mc.aws) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[string(key)]; ok {
		return // another request mapped it first; its entry stays
	}
	for k := range c.m {
		if len(c.m) < callCacheEntries && c.keyBytes+len(key) <= callCacheKeyBytes {
			break
		}
		c.keyBytes -= len(k)
		delete(c.m, k)
	}
	mc.keyLen = len(key)
	c.m[string(key)] = mc
	c.keyBytes += len(key)
}

// len is the number of cached calls.
func (c *callCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// transientReasons are analysis gaps that depend on the moment, not on the
// call: the same script may parse in time on a quieter machine.
var transientReasons = []string{"parse_timeout", ReasonAnalyzerDisabled}

func transient(a *AWSContext) bool {
	if a == nil {
		return false
	}
	for _, r := range a.Reasons {
		if slices.Contains(transientReasons, r) {
			return true
		}
	}
	return false
}
