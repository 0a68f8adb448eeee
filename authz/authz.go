package authz

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/mcp"
)

// Options configures an Authorizer; it mirrors authz_config with paths
// already resolved.
type Options struct {
	// PolicyFiles are paths or globs of .cedar files, re-expanded on every
	// reload.
	PolicyFiles []string
	// EntitiesFile optionally holds extra entities (group hierarchies, tool
	// categories) in Cedar's JSON entity format.
	EntitiesFile string
	// ServerHost names the upstream in Server::"<host>", the resource of
	// every request that is not about a tool, prompt or resource.
	ServerHost string
	// SchemaValidation type-checks every policy against the schema when the
	// set loads (New, Reload, polling): SchemaStrict, SchemaWarn, or
	// SchemaOff. The zero value is SchemaOff; authz_config defaults to
	// strict.
	SchemaValidation SchemaMode
	// SchemaFile is a Cedar schema replacing the embedded one
	// (DefaultSchema); "" uses the embedded schema. It is re-read with the
	// policies.
	SchemaFile string
	// ShadowPolicyFiles are paths or globs of a second policy set that
	// Authorize evaluates after every decision without changing it; each
	// outcome goes to OnShadow. Empty disables shadow evaluation.
	ShadowPolicyFiles []string
	// OnShadow receives the comparison of every shadow evaluation. It runs
	// on the request's goroutine and must not block.
	OnShadow func(ShadowResult)
	// GroupClaim, when set, reads the principal's groups from this claim
	// instead of Identity.Groups.
	GroupClaim string
	// ReloadInterval is how often the policy files are polled for changes;
	// 0 disables polling (Reload still works).
	ReloadInterval time.Duration
	// ReloadTicks, when set, replaces the ReloadInterval ticker: each value
	// received is one poll. Tests drive polls with it instead of sleeping.
	ReloadTicks <-chan time.Time
	// OnPoll, when set, is called after every poll (whether or not it
	// reloaded), so tests can wait for a poll to finish.
	OnPoll func()
	// AllowGuardrailRemoval accepts a policy set in which a configured
	// policy file holds no policy, and a reload that drops every forbid the
	// set in force had. Default false: such a set is refused (at startup an
	// error, on reload the last good set stays), because an emptied or
	// truncated guardrails file parses without error.
	AllowGuardrailRemoval bool
	// Logger receives reload outcomes; nil discards them.
	Logger *slog.Logger
	// OnReload, when set, is called after every reload attempt (Reload, or a
	// poll that saw changed files), so metrics and audit can count failures.
	// It runs on the reloading goroutine and must not block.
	OnReload func(ok bool, err error)
	// AWS configures context.aws (the analysis of run_script code and of
	// cli_command).
	AWS AWSOptions
}

// Request is what the pipeline knows about one HTTP request.
type Request struct {
	// HTTPMethod decides the action of a bodyless request: GET is
	// mcp:stream, DELETE is mcp:terminate.
	HTTPMethod string
	// Body is the parsed JSON-RPC body, nil for a bodyless GET or DELETE.
	Body *mcp.Body
	// SourceIP is Envoy's source.address (never X-Forwarded-For); a port is
	// allowed and dropped.
	SourceIP string
	// RequestID and SessionID (Mcp-Session-Id) are exposed to policies.
	RequestID string
	SessionID string
	// Time is the request time; zero means now.
	Time time.Time
	// ServerHost is the upstream this request goes to when a gateway
	// serves several (Server::"<host>"); empty means Options.ServerHost.
	ServerHost string
	// ProtocolVersion is the request's MCP revision (header or _meta),
	// context.protocol_version; empty when the request names none.
	ProtocolVersion string
	// Region is that upstream's signing region, the region of AWS calls
	// that name none; empty means Options.AWS.Region.
	Region string
	// Attributes are string attributes of context set by the credential
	// source (aws_account and permission_set of an IAM Identity Center
	// request). They never override the attributes above.
	Attributes map[string]string
}

// EvalError is a policy that could not be evaluated for a request, for
// example because it read an attribute the request lacks.
type EvalError struct {
	PolicyID string `json:"policy"`
	Message  string `json:"message"`
}

// ItemDecision is the decision for one JSON-RPC message (or the bodyless
// request).
type ItemDecision struct {
	// Action is the Cedar action ID: the JSON-RPC method, or mcp:stream,
	// mcp:terminate, mcp:response.
	Action string `json:"action"`
	// Resource is the Cedar resource UID, e.g. Tool::"aws___call_aws".
	Resource string `json:"resource"`
	Allow    bool   `json:"allow"`
	// Policies are the determining policies: the permits that allowed, or
	// the forbids (matching or erroring) that denied. Empty on a default
	// deny.
	Policies []string    `json:"policies,omitempty"`
	Errors   []EvalError `json:"errors,omitempty"`
	// AWS is the context.aws the message was decided with, for a tools/call
	// of aws___run_script or with a cli_command argument.
	AWS *AWSContext `json:"aws,omitempty"`
	// AWSRefused are the actions of AWS that the policies refuse on their
	// own when a complete analysis with several actions is denied: a
	// script with only that action's calls would be denied too. Empty when
	// no single action is to blame (or the analysis is incomplete).
	AWSRefused []string `json:"aws_refused,omitempty"`
}

// Decision is the outcome for a whole request. A batch is allowed only when
// every message is.
type Decision struct {
	Allow bool `json:"allow"`
	// Items has one entry per message, in body order, or one for a bodyless
	// request.
	Items []ItemDecision `json:"items"`
	// Policies are the determining policies of the allowed items when the
	// request is allowed, else of the denied items; sorted, unique.
	Policies []string    `json:"policies,omitempty"`
	Errors   []EvalError `json:"errors,omitempty"`
	// StepUpScopes, on a denial, are the OAuth scopes named by
	// @requires_scope that the caller lacks and that would turn the
	// denial into an allow: the client can ask the user for them.
	StepUpScopes []string `json:"step_up_scopes,omitempty"`
}

// maxReasonResource bounds the resource text quoted in a denial message.
const maxReasonResource = 200

// Reason is the client-safe explanation of a denial: it names the action and
// resource of the first denied message and never the policy text. It is ""
// when the request is allowed.
func (d Decision) Reason() string {
	if d.Allow {
		return ""
	}
	for i, it := range d.Items {
		if it.Allow {
			continue
		}
		res := it.Resource
		if len(res) > maxReasonResource {
			// The resource ID comes from the client; keep the message short.
			res = strings.ToValidUTF8(res[:maxReasonResource], "") + "…"
		}
		msg := fmt.Sprintf("action %q on %s is not permitted", it.Action, res)
		msg += it.awsReason()
		if len(d.Items) > 1 {
			msg += " (batch element " + strconv.Itoa(i) + ")"
		}
		return msg
	}
	return "request is not permitted"
}

// Err is the error the pipeline answers a denial with: KindForbidden (403,
// JSON-RPC -32003) carrying Reason as its client-safe message. It is nil
// when the request is allowed.
func (d Decision) Err() error {
	if d.Allow {
		return nil
	}
	if len(d.StepUpScopes) > 0 {
		return &mcpguard.Error{Kind: mcpguard.KindForbidden, Msg: d.Reason() + " without scope " + strings.Join(d.StepUpScopes, " "),
			Reason: ReasonInsufficientScope, Err: &InsufficientScope{Scopes: d.StepUpScopes}}
	}
	return &mcpguard.Error{Kind: mcpguard.KindForbidden, Msg: d.Reason(), Reason: "policy_denied"}
}

// Authorizer decides MCP requests with Cedar. It is safe for concurrent use;
// decisions read an immutable snapshot that reloads replace atomically.
type Authorizer struct {
	opts   Options
	log    *slog.Logger
	server types.EntityUID
	aws    *awsAnalysis
	snap   atomic.Pointer[snapshot]

	reloadMu   sync.Mutex        // serialises reloads; never held by Authorize
	lastFailed [sha256.Size]byte // hash of the last rejected set (or read error), to report it once
	hasFailed  bool
	pending    []fileStat // changed stats seen on the previous tick

	shadow shadowState

	// stopWatch ends the reload watcher and watching is done when it has
	// returned, so Close can wait for a reload in flight.
	stopWatch context.CancelFunc
	watching  chan struct{}

	// observe, set only by tests, sees every Cedar request decided, so the
	// schema test validates what the code really builds.
	observe func(req cedar.Request, principal, resource types.Entity)
}

// New loads and compiles the policy set and, when ReloadInterval is set,
// watches it until ctx ends. A set that does not load is an error: mcpguard
// must not start without its policies.
func New(ctx context.Context, opts Options) (*Authorizer, error) {
	if opts.ServerHost == "" {
		return nil, errors.New("authz: server host is required")
	}
	a := &Authorizer{
		opts:   opts,
		log:    opts.Logger,
		server: types.NewEntityUID(typeServer, types.String(opts.ServerHost)),
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	aws, err := newAWSAnalysis(opts.AWS)
	if err != nil {
		return nil, fmt.Errorf("authz: aws analysis: %w", err)
	}
	a.aws = aws
	src, err := readSources(&a.opts)
	if err != nil {
		return nil, fmt.Errorf("load policies: %w", err)
	}
	s, err := buildSnapshot(src)
	if err != nil {
		return nil, fmt.Errorf("load policies: %w", err)
	}
	if !opts.AllowGuardrailRemoval {
		if err := guardrails(nil, s); err != nil {
			return nil, fmt.Errorf("load policies: %w", err)
		}
	}
	a.snap.Store(s)
	a.log.Info("authz policies loaded", "policies", len(s.sorted), "files", len(src.policyPaths))
	a.logSchemaWarnings(s)
	if err := a.loadShadow(); err != nil {
		return nil, err
	}
	a.watching = make(chan struct{})
	wctx, stop := context.WithCancel(ctx)
	a.stopWatch = stop
	switch {
	case opts.ReloadTicks != nil:
		go func() {
			defer close(a.watching)
			a.watch(wctx, opts.ReloadTicks)
		}()
	case opts.ReloadInterval > 0:
		t := time.NewTicker(opts.ReloadInterval)
		go func() {
			defer close(a.watching)
			defer t.Stop()
			a.watch(wctx, t.C)
		}()
	default:
		close(a.watching)
	}
	return a, nil
}

// Close stops watching the policy files and waits for a reload in flight,
// so nothing is reloaded, logged or audited after it returns. Ending New's
// ctx stops the watcher too, but without waiting. Close is idempotent.
func (a *Authorizer) Close() {
	if a.stopWatch == nil {
		return
	}
	a.stopWatch()
	<-a.watching
}

// PolicyIDs lists the IDs of the policies in force, sorted.
func (a *Authorizer) PolicyIDs() []string {
	s := a.snap.Load()
	ids := make([]string, len(s.sorted))
	for i, e := range s.sorted {
		ids[i] = string(e.id)
	}
	return ids
}

// Reload re-reads and re-parses every policy source and swaps the new set in
// when it is complete and valid; otherwise the set in force stays and the
// error is returned. Reload has already logged the outcome and passed it to
// OnReload, so the caller (the SIGHUP handler) need not log it again.
func (a *Authorizer) Reload() error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	defer a.reloadShadow()
	src, err := readSources(&a.opts)
	if err != nil {
		a.reloaded(nil, err)
		return fmt.Errorf("reload policies: %w", err)
	}
	return a.apply(src)
}

// apply builds a snapshot from src and swaps it in. reloadMu must be held.
func (a *Authorizer) apply(src *source) error {
	s, err := buildSnapshot(src)
	if err == nil && !a.opts.AllowGuardrailRemoval {
		err = guardrails(a.snap.Load(), s)
	}
	if err != nil {
		a.lastFailed, a.hasFailed = src.hash, true
		a.reloaded(nil, err)
		return fmt.Errorf("reload policies: %w", err)
	}
	a.hasFailed = false
	a.snap.Store(s)
	a.reloaded(s, nil)
	return nil
}

func (a *Authorizer) reloaded(s *snapshot, err error) {
	if err != nil {
		a.log.Error("authz policy reload rejected; keeping the policies in force", "error", err)
	} else {
		a.log.Info("authz policies reloaded", "policies", len(s.sorted))
		a.logSchemaWarnings(s)
	}
	if a.opts.OnReload != nil {
		a.opts.OnReload(err == nil, err)
	}
}

// watch polls the policy sources on every tick until ctx ends.
func (a *Authorizer) watch(ctx context.Context, ticks <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
			a.poll()
			a.pollShadow()
			if a.opts.OnPoll != nil {
				a.opts.OnPoll()
			}
		}
	}
}

// poll reloads when the files changed: a stat fingerprint (names, sizes,
// mtimes) that must be the same on two ticks in a row, then a content hash,
// so a touched but unchanged file costs one read and no reload. A broken set
// is reported once, not every tick.
func (a *Authorizer) poll() {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	cur := a.snap.Load()
	stats, err := statSources(&a.opts)
	if err == nil {
		if equalStats(stats, cur.files) {
			a.pending = nil
			return
		}
		// Wait until the files hold still for one interval, so a file
		// caught half-written is not parsed.
		if !equalStats(stats, a.pending) {
			a.pending = stats
			return
		}
	}
	src, rerr := readSources(&a.opts)
	if rerr != nil {
		h := sha256.Sum256([]byte(rerr.Error()))
		if !a.hasFailed || a.lastFailed != h {
			a.lastFailed, a.hasFailed = h, true
			a.reloaded(nil, rerr)
		}
		return
	}
	if src.hash == cur.hash {
		// Same content: remember the new stats so the next tick is cheap.
		next := *cur
		next.files = src.stats
		a.snap.Store(&next)
		a.hasFailed = false
		return
	}
	if a.hasFailed && a.lastFailed == src.hash {
		return
	}
	_ = a.apply(src)
}

// authorize decides one HTTP request with the policy set s: the set in
// force, or the shadow set (see Authorize).
func (a *Authorizer) authorize(ctx context.Context, s *snapshot, id *authn.Identity, req Request) (Decision, error) {
	if err := ctx.Err(); err != nil {
		return Decision{}, mcpguard.E(mcpguard.KindInternal, "authorization cancelled", err)
	}
	if id == nil {
		return Decision{}, mcpguard.E(mcpguard.KindInternal, "internal error", errors.New("authorize: no identity"))
	}
	if id.Subject == "" {
		return Decision{}, mcpguard.E(mcpguard.KindUnauthenticated, "token has no subject", nil)
	}
	principal, ok := s.cachedPrincipal(id)
	if !ok {
		// Only a token not seen with this policy set has its groups read:
		// a cached principal was built from the same claims.
		groups, err := a.groups(id)
		if err != nil {
			return Decision{}, err
		}
		principal = s.principal(id, groups)
	}
	now := req.Time
	if now.IsZero() {
		now = time.Now()
	}
	d, err := a.evaluate(ctx, s, principal, id.TokenDigest, &req, now)
	if err != nil || d.Allow {
		return d, err
	}
	// A denial that the scopes named by @requires_scope would turn into an
	// allow is a step-up: the client may ask the user for them.
	if missing := s.missingScopes(principal); len(missing) > 0 {
		d.StepUpScopes = a.stepUp(ctx, s, principal, &req, now, missing)
	}
	return d, nil
}

// evaluate decides every message of req for principal. token is the
// digest of the token principal was built from, which keys the snapshot's
// decision cache; the zero digest (a principal changed for a step-up
// check, say) is decided without it.
func (a *Authorizer) evaluate(ctx context.Context, s *snapshot, principal types.Entity, token [sha256.Size]byte, req *Request, now time.Time) (Decision, error) {
	ents := &requestEntities{base: s.entities, principal: principal}
	// The base context is built on first use: a cached decision needs it
	// only when the policies read one of its attributes.
	var ctxMap types.RecordMap
	base := func() types.RecordMap {
		if ctxMap == nil {
			ctxMap = baseContext(req, now)
		}
		return ctxMap
	}
	// The shared context record is built on first use too: a single
	// aws___call_aws message needs only its own, with aws_cli added.
	var baseCtx types.Record
	baseBuilt := false
	shared := func() types.Record {
		if !baseBuilt {
			baseCtx, baseBuilt = types.NewRecord(base()), true
		}
		return baseCtx
	}
	memo := a.memo(s, token)

	var items []ItemDecision
	if req.Body == nil {
		action := ""
		switch req.HTTPMethod {
		case "GET":
			action = ActionStream
		case "DELETE":
			action = ActionTerminate
		default:
			return Decision{}, mcpguard.Ef(mcpguard.KindInvalidRequest, "%s request has no JSON-RPC body", safeMethod(req.HTTPMethod))
		}
		server := types.Entity{UID: a.serverFor(*req)}
		k, cached := memo.keyFor(action, nil, server, base, req.Attributes)
		it, hit := memo.get(&k, cached)
		if !hit {
			ents.resource = mergeBase(s.entities, server)
			it = a.decide(s, ents, action, shared())
			memo.put(&k, cached, it)
		}
		items = []ItemDecision{it}
	} else {
		if len(req.Body.Messages) == 0 {
			return Decision{}, mcpguard.E(mcpguard.KindInvalidRequest, "empty JSON-RPC batch", nil)
		}
		items = make([]ItemDecision, 0, len(req.Body.Messages))
		serverUID := a.serverFor(*req)
		region := req.Region
		if region == "" {
			region = a.aws.region
		}
		for i, m := range req.Body.Messages {
			if err := ctx.Err(); err != nil {
				return Decision{}, mcpguard.E(mcpguard.KindInternal, "authorization cancelled", err)
			}
			action, ent, mc, err := a.mapOne(m, serverUID, region)
			if err != nil {
				return Decision{}, messageError(err, req.Body.Batch, i)
			}
			extra, err := messageContext(m)
			if err != nil {
				return Decision{}, messageError(err, req.Body.Batch, i)
			}
			// Context a message adds of its own (input responses, say)
			// is not in the key: such a message is decided every time.
			k, cached := memo.keyFor(action, mc, ent, base, req.Attributes)
			cached = cached && extra == nil
			it, hit := memo.get(&k, cached)
			if !hit {
				if mc == nil {
					mc = &mappedCall{resource: ent}
				}
				ents.resource = mergeBase(s.entities, mc.resource)
				var c types.Record
				switch {
				case mc.cli != nil || mc.aws != nil || extra != nil:
					var awsRec *types.Record
					if mc.aws != nil {
						awsRec = &mc.awsRec
					}
					c = recordWith(base(), mc.cli, awsRec, extra)
				default:
					c = shared()
				}
				it = a.decide(s, ents, action, c)
				memo.put(&k, cached, it)
			}
			if mc != nil && mc.aws != nil {
				it.AWS = mc.aws
				if !it.Allow {
					if hit {
						ents.resource = mergeBase(s.entities, mc.resource)
					}
					it.AWSRefused = a.refusedActions(s, ents, action, base(), mc.cli, mc.aws)
				}
			}
			items = append(items, it)
		}
	}
	return combine(items), nil
}

// groups are the Cedar groups of id: its authenticated groups, or those
// of the authorizer's own group claim. A claim that does not read whole
// denies (see authn.GroupsFromClaims): a policy must never decide on a
// cut list.
func (a *Authorizer) groups(id *authn.Identity) ([]string, error) {
	if a.opts.GroupClaim == "" || id.Provider != "" {
		// A named provider's groups are its claim mapping's, already
		// read whole, renamed and prefixed by authn.
		return id.Groups, nil
	}
	g, err := authn.GroupsFromClaims(id.Claims, a.opts.GroupClaim)
	if err != nil {
		e := mcpguard.E(mcpguard.KindForbidden, "token groups cannot be read whole", err)
		e.Reason = authn.ReasonBadGroups
		return nil, e
	}
	return g, nil
}

// recordWith is the context record of one message: the shared context
// with context.aws_cli, context.aws (its Cedar value) and extra, those that
// are set. It adds them to base only for the time types.NewRecord takes to
// copy it, and leaves base as it was, so no second map is built.
func recordWith(base types.RecordMap, cli, aws *types.Record, extra types.RecordMap) types.Record {
	var (
		buf     [8]savedValue
		restore = buf[:0]
	)
	if cli != nil {
		restore = setSaved(base, restore, "aws_cli", *cli)
	}
	if aws != nil {
		restore = setSaved(base, restore, "aws", *aws)
	}
	for k, v := range extra {
		restore = setSaved(base, restore, k, v)
	}
	r := types.NewRecord(base)
	for i := len(restore) - 1; i >= 0; i-- {
		if s := restore[i]; s.had {
			base[s.k] = s.v
		} else {
			delete(base, s.k)
		}
	}
	return r
}

// savedValue is what recordWith found at a key before setting it.
type savedValue struct {
	k   types.String
	v   types.Value
	had bool
}

func setSaved(m types.RecordMap, saved []savedValue, k types.String, v types.Value) []savedValue {
	old, had := m[k]
	m[k] = v
	return append(saved, savedValue{k, old, had})
}

// safeMethod keeps an unexpected HTTP method printable and short in a client
// message.
func safeMethod(m string) string {
	if m == "" {
		return "bodyless"
	}
	if len(m) > 16 {
		m = m[:16]
	}
	return strconv.Quote(m)
}

// serverFor is the Server entity of the request's upstream.
func (a *Authorizer) serverFor(req Request) types.EntityUID {
	if req.ServerHost == "" || req.ServerHost == a.opts.ServerHost {
		return a.server
	}
	return types.NewEntityUID(typeServer, types.String(req.ServerHost))
}

// mapOne turns one JSON-RPC message into its action and its resource
// entity and, for a tools/call, the mappedCall with that entity, the
// aws_cli context record (with a cli_command argument) and context.aws
// (for aws___run_script, or with a cli_command argument). Only a
// run_script call pays for the script analysis, and a tools/call sent
// before with the same arguments is not mapped again (callCache).
func (a *Authorizer) mapOne(m *mcp.Message, serverUID types.EntityUID, region string) (string, types.Entity, *mappedCall, error) {
	server := types.Entity{UID: serverUID}
	switch m.Type {
	case mcp.TypeResponse:
		return ActionResponse, server, nil, nil
	case mcp.TypeRequest, mcp.TypeNotification:
	default:
		return "", types.Entity{}, nil, mcpguard.E(mcpguard.KindInvalidRequest,
			"invalid request: message is neither a request, a notification nor a response", nil)
	}
	if m.Method == "" {
		return "", types.Entity{}, nil, mcpguard.E(mcpguard.KindInvalidRequest, "invalid request: method is empty", nil)
	}
	switch m.Method {
	case mcp.MethodToolsCall:
		tc, err := m.ToolCall()
		if err != nil {
			return "", types.Entity{}, nil, err
		}
		var kb [256]byte
		key := callKey(kb[:0], tc.Name, region, tc.RawArguments)
		if mc, ok := a.aws.calls.get(key); ok {
			return m.Method, mc.resource, mc, nil
		}
		mc, err := a.mapToolCall(tc, region)
		if err != nil {
			return "", types.Entity{}, nil, err
		}
		a.aws.calls.put(key, mc)
		return m.Method, mc.resource, mc, nil
	case mcp.MethodPromptsGet:
		pg, err := m.PromptGet()
		if err != nil {
			return "", types.Entity{}, nil, err
		}
		rec, err := argumentsRecord(pg.Arguments)
		if err != nil {
			return "", types.Entity{}, nil, err
		}
		return m.Method, types.Entity{
			UID: types.NewEntityUID(typePrompt, types.String(pg.Name)),
			Attributes: types.NewRecord(types.RecordMap{
				"prompt_name": types.String(pg.Name),
				"arguments":   rec,
			}),
		}, nil, nil
	case mcp.MethodCompletionComplete:
		// A completion is authorized on what it completes: the prompt
		// (with no arguments: they are not being requested) or the
		// resource template, normalized like any resource URI.
		c, err := m.Completion()
		if err != nil {
			return "", types.Entity{}, nil, err
		}
		if c.RefType == mcp.RefResource {
			ent, err := resourceEntity(c.URI)
			if err != nil {
				return "", types.Entity{}, nil, err
			}
			return m.Method, ent, nil, nil
		}
		return m.Method, types.Entity{
			UID: types.NewEntityUID(typePrompt, types.String(c.Name)),
			Attributes: types.NewRecord(types.RecordMap{
				"prompt_name": types.String(c.Name),
				"arguments":   types.NewRecord(nil),
			}),
		}, nil, nil
	case mcp.MethodResourcesRead, mcp.MethodResourcesSubscribe, mcp.MethodResourcesUnsubscribe:
		uri, err := m.ResourceURI()
		if err != nil {
			return "", types.Entity{}, nil, err
		}
		ent, err := resourceEntity(uri)
		if err != nil {
			return "", types.Entity{}, nil, err
		}
		return m.Method, ent, nil, nil
	}
	return m.Method, server, nil, nil
}

// mapToolCall maps a tools/call not found in the call cache.
func (a *Authorizer) mapToolCall(tc *mcp.ToolCall, region string) (*mappedCall, error) {
	rec, err := argumentsRecord(tc.Arguments)
	if err != nil {
		return nil, err
	}
	mc := &mappedCall{resource: types.Entity{
		UID: types.NewEntityUID(typeTool, types.String(tc.Name)),
		Attributes: types.NewRecord(types.RecordMap{
			"tool_name": types.String(tc.Name),
			"arguments": rec,
		}),
	}}
	v, hasCLI := tc.Arguments["cli_command"]
	if hasCLI {
		// One parse serves context.aws_cli and context.aws.
		r, ctx := a.aws.fromCLI(v, region)
		mc.cli = &r
		if tc.Name != ToolRunScript {
			mc.aws = ctx
		}
	}
	if tc.Name == ToolRunScript {
		mc.aws = a.aws.fromScript(tc.Arguments, region)
	}
	if mc.aws != nil {
		mc.awsRec = mc.aws.record()
	}
	return mc, nil
}

// resourceEntity is Resource::"<normalized uri>" with uri (as sent) and
// normalized_uri; a URI whose forms differ beyond scheme and host case is
// refused (normalizeURI).
func resourceEntity(uri string) (types.Entity, error) {
	norm, err := normalizeURI(uri)
	if err != nil {
		e := mcpguard.E(mcpguard.KindInvalidRequest, "invalid request: resource uri refused: "+err.Error(), err)
		e.Reason = "bad_uri"
		return types.Entity{}, e
	}
	return types.Entity{
		UID: types.NewEntityUID(typeResource, types.String(norm)),
		Attributes: types.NewRecord(types.RecordMap{
			"uri":            types.String(uri),
			"normalized_uri": types.String(norm),
		}),
	}, nil
}

// argumentsRecord converts tool or prompt arguments (nil when absent) to
// the arguments record.
func argumentsRecord(args map[string]any) (types.Record, error) {
	rec, err := toRecord(args, 1)
	if err != nil {
		return types.Record{}, mcpguard.E(mcpguard.KindInvalidRequest, "invalid request: params.arguments: "+err.Error(), err)
	}
	return rec, nil
}

// messageError keeps the classification mcp gave a malformed message and
// names the batch element, so the client can find it.
func messageError(err error, batch bool, i int) error {
	var me *mcpguard.Error
	if !errors.As(err, &me) {
		me = mcpguard.E(mcpguard.KindInvalidRequest, "invalid request", err)
	}
	if !batch {
		return me
	}
	return &mcpguard.Error{Kind: me.Kind, Msg: fmt.Sprintf("batch element %d: %s", i, me.Msg), Err: err, Reason: me.Reason}
}

// decide evaluates one message. Cedar's own semantics apply (default deny,
// a matching forbid overrides any permit, an erroring permit does not
// apply), with one addition: a forbid that errors denies, because a guard
// rail that cannot be evaluated must not be skipped.
func (a *Authorizer) decide(s *snapshot, ents *requestEntities, action string, ctx types.Record) ItemDecision {
	actionUID := types.NewEntityUID(typeAction, types.String(action))
	cands := s.index.candidates(actionUID, ents.resource.UID)
	req := cedar.Request{
		Principal: ents.principal.UID,
		Action:    actionUID,
		Resource:  ents.resource.UID,
		Context:   ctx,
	}
	if a.observe != nil {
		a.observe(req, ents.principal, ents.resource)
	}
	dec, diag := cedar.Authorize(&cands, ents, req)
	it := ItemDecision{Action: action, Resource: uidString(ents.resource.UID), Allow: dec == cedar.Allow}
	var failedForbids []string
	for _, e := range diag.Errors {
		it.Errors = append(it.Errors, EvalError{PolicyID: string(e.PolicyID), Message: e.Message})
		if p := s.byID[e.PolicyID]; p != nil && p.forbid {
			failedForbids = append(failedForbids, string(e.PolicyID))
		}
	}
	if len(failedForbids) > 0 {
		it.Allow = false
		if dec == cedar.Allow {
			// The permits did not determine this outcome.
			diag.Reasons = nil
		}
	}
	for _, r := range diag.Reasons {
		it.Policies = append(it.Policies, string(r.PolicyID))
	}
	it.Policies = append(it.Policies, failedForbids...)
	slices.Sort(it.Policies)
	slices.SortFunc(it.Errors, func(x, y EvalError) int {
		if x.PolicyID < y.PolicyID {
			return -1
		}
		if x.PolicyID > y.PolicyID {
			return 1
		}
		return 0
	})
	return it
}

// uidString is uid.String() without its escaping pass when the ID holds
// only printable ASCII that Cedar's escaping leaves as it is (everything
// but the quote, the apostrophe and the backslash), which is every tool
// name in practice.
func uidString(uid types.EntityUID) string {
	id := string(uid.ID)
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '\'' {
			return uid.String()
		}
	}
	return string(uid.Type) + "::\"" + id + "\""
}

// combine folds per-message decisions into the request's decision.
func combine(items []ItemDecision) Decision {
	d := Decision{Allow: true, Items: items}
	for _, it := range items {
		if !it.Allow {
			d.Allow = false
		}
		d.Errors = append(d.Errors, it.Errors...)
	}
	for _, it := range items {
		if it.Allow == d.Allow {
			d.Policies = append(d.Policies, it.Policies...)
		}
	}
	slices.Sort(d.Policies)
	d.Policies = slices.Compact(d.Policies)
	return d
}
