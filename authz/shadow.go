package authz

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/mcpguard/mcpguard/authn"
)

// Shadow comparison results, the values of ShadowResult.Result and of the
// result label of mcpguard_authz_shadow_decisions_total.
const (
	// ShadowAgree: the shadow set decided as the set in force did.
	ShadowAgree = "agree"
	// ShadowWouldAllow: the set in force denied, the shadow set would
	// allow.
	ShadowWouldAllow = "would_allow"
	// ShadowWouldDeny: the set in force allowed, the shadow set would deny.
	ShadowWouldDeny = "would_deny"
)

// ShadowResult compares the shadow set's decision for one request with the
// decision in force. The decision in force is what the request got; the
// shadow decision never changes it.
type ShadowResult struct {
	// Result is ShadowAgree, ShadowWouldAllow or ShadowWouldDeny.
	Result string
	// Identity and RequestID name the request, for the audit record.
	Identity  *authn.Identity
	RequestID string
	// Allow and Policies are the decision in force and its determining
	// policies; ShadowAllow and ShadowPolicies the shadow set's.
	Allow          bool
	Policies       []string
	ShadowAllow    bool
	ShadowPolicies []string
	// Action and Resource are those of the first message the two sets
	// decided differently, "" when they agree.
	Action   string
	Resource string
}

// shadowState holds the shadow policy set and its reload bookkeeping,
// separate from the set in force so that neither reload can disturb the
// other.
type shadowState struct {
	snap       atomic.Pointer[snapshot]
	mu         sync.Mutex
	lastFailed [sha256.Size]byte
	hasFailed  bool
	pending    []fileStat
}

// Authorize decides one HTTP request. The error is for requests that cannot
// be decided at all (malformed params: KindInvalidRequest); a denial is a
// Decision with Allow false and a nil error. With a shadow set, the same
// request is then decided by it too and the comparison passed to OnShadow;
// the returned decision is always the one of the set in force.
func (a *Authorizer) Authorize(ctx context.Context, id *authn.Identity, req Request) (Decision, error) {
	d, err := a.authorize(ctx, a.snap.Load(), id, req)
	if err != nil {
		return d, err
	}
	if sh := a.shadow.snap.Load(); sh != nil {
		a.compareShadow(ctx, sh, id, req, d)
	}
	return d, nil
}

// compareShadow decides req with the shadow set and reports how it
// compares with d. A shadow evaluation that cannot finish (the request
// was cancelled) is not reported: it compared nothing.
func (a *Authorizer) compareShadow(ctx context.Context, sh *snapshot, id *authn.Identity, req Request, d Decision) {
	sd, err := a.authorize(ctx, sh, id, req)
	if err != nil {
		a.log.Debug("shadow policy evaluation did not finish", "error", err)
		return
	}
	r := ShadowResult{
		Result: ShadowAgree, Identity: id, RequestID: req.RequestID,
		Allow: d.Allow, Policies: d.Policies, ShadowAllow: sd.Allow, ShadowPolicies: sd.Policies,
	}
	if d.Allow != sd.Allow {
		r.Result = ShadowWouldDeny
		if sd.Allow {
			r.Result = ShadowWouldAllow
		}
		for i := range min(len(d.Items), len(sd.Items)) {
			if d.Items[i].Allow != sd.Items[i].Allow {
				r.Action, r.Resource = d.Items[i].Action, d.Items[i].Resource
				break
			}
		}
	}
	if a.opts.OnShadow != nil {
		a.opts.OnShadow(r)
	}
}

// ShadowPolicyIDs lists the IDs of the shadow set's policies, sorted; nil
// without a shadow set.
func (a *Authorizer) ShadowPolicyIDs() []string {
	s := a.shadow.snap.Load()
	if s == nil {
		return nil
	}
	ids := make([]string, len(s.sorted))
	for i, e := range s.sorted {
		ids[i] = string(e.id)
	}
	return ids
}

// shadowOptions are the options of the shadow set: the shadow files with
// everything else (entities file, schema) of the set in force.
func (a *Authorizer) shadowOptions() *Options {
	o := a.opts
	o.PolicyFiles = a.opts.ShadowPolicyFiles
	return &o
}

// loadShadow loads the shadow set at start. A configured set that does not
// load is an error, like the set in force: a broken configuration must be
// noticed before it is trusted.
func (a *Authorizer) loadShadow() error {
	if len(a.opts.ShadowPolicyFiles) == 0 {
		return nil
	}
	src, err := readSources(a.shadowOptions())
	if err != nil {
		return fmt.Errorf("load shadow policies: %w", err)
	}
	s, err := buildSnapshot(src)
	if err != nil {
		return fmt.Errorf("load shadow policies: %w", err)
	}
	a.shadow.snap.Store(s)
	a.log.Info("authz shadow policies loaded", "policies", len(s.sorted), "files", len(src.policyPaths))
	return nil
}

// reloadShadow re-reads the shadow set (on Reload). A set that does not load
// is logged and the previous shadow set stays.
func (a *Authorizer) reloadShadow() {
	if len(a.opts.ShadowPolicyFiles) == 0 {
		return
	}
	a.shadow.mu.Lock()
	defer a.shadow.mu.Unlock()
	src, err := readSources(a.shadowOptions())
	if err != nil {
		a.shadowFailed(err)
		return
	}
	a.applyShadow(src)
}

// applyShadow builds and swaps in a shadow set. shadow.mu must be held.
func (a *Authorizer) applyShadow(src *source) {
	s, err := buildSnapshot(src)
	if err != nil {
		a.shadow.lastFailed, a.shadow.hasFailed = src.hash, true
		a.shadowFailed(err)
		return
	}
	a.shadow.hasFailed = false
	a.shadow.snap.Store(s)
	a.log.Info("authz shadow policies reloaded", "policies", len(s.sorted))
}

func (a *Authorizer) shadowFailed(err error) {
	a.log.Error("authz shadow policy reload rejected; keeping the shadow policies in force", "error", err)
}

// pollShadow is poll for the shadow set: reload once the files changed and
// held still for one interval; report a broken set once.
func (a *Authorizer) pollShadow() {
	a.shadow.mu.Lock()
	defer a.shadow.mu.Unlock()
	cur := a.shadow.snap.Load()
	if cur == nil {
		return
	}
	opts := a.shadowOptions()
	stats, err := statSources(opts)
	if err == nil {
		if equalStats(stats, cur.files) {
			a.shadow.pending = nil
			return
		}
		if !equalStats(stats, a.shadow.pending) {
			a.shadow.pending = stats
			return
		}
	}
	src, rerr := readSources(opts)
	if rerr != nil {
		h := sha256.Sum256([]byte(rerr.Error()))
		if !a.shadow.hasFailed || a.shadow.lastFailed != h {
			a.shadow.lastFailed, a.shadow.hasFailed = h, true
			a.shadowFailed(rerr)
		}
		return
	}
	if src.hash == cur.hash {
		next := *cur
		next.files = src.stats
		a.shadow.snap.Store(&next)
		a.shadow.hasFailed = false
		return
	}
	if a.shadow.hasFailed && a.shadow.lastFailed == src.hash {
		return
	}
	a.applyShadow(src)
}
