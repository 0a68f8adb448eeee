package extproc

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/audit"
	"github.com/mcpguard/mcpguard/authz"
	"github.com/mcpguard/mcpguard/mcp"
	"github.com/mcpguard/mcpguard/telemetry"
)

// Recorder writes the audit trail.
type Recorder interface {
	// Append writes one record and returns its seq; 0 with a nil error
	// means the record's type is not written (event_types). It must not
	// modify e: sections of an event may be shared with other events.
	Append(ctx context.Context, e *audit.Event) (uint64, error)
	// FailClosed reports whether a request must be refused when its
	// record cannot be written (audit_config.on_failure: deny).
	FailClosed() bool
}

// errAuditUnavailable refuses a request whose own record could not be
// written while on_failure is deny: nothing is forwarded without a record.
var errAuditUnavailable = mcpguard.E(mcpguard.KindUnavailable, "audit trail unavailable; request refused", nil)

// auditState is where the exchange's audit record stands.
type auditState int

const (
	auditNone      auditState = iota // nothing written yet: the record is written when the exchange ends
	auditForwarded                   // the request's record was written before forwarding; an mcp_response completes it
	auditSkipped                     // the request's type is not recorded
	auditWritten                     // a refusal's whole record was written before its answer
)

// recordRefusal writes the whole record of a request refused before it was
// forwarded, before the answer goes back to Envoy: the trail then holds a
// refusal before the client can act on it, and records of one client's
// sequential requests appear in the order they were answered.
func (x *exchange) recordRefusal() {
	if x.audit != auditNone || !x.audited() {
		return
	}
	x.recordFinished()
	x.audit = auditWritten
}

// recordForwarding writes the request's record before Envoy forwards it.
// Only this request's own write decides: when it fails under on_failure
// deny the request is refused (503), whatever other writes did.
func (x *exchange) recordForwarding() error {
	if x.s.o.Audit == nil {
		return nil
	}
	ev := x.eraAudit(x.auditEvent())
	ev.Outcome = audit.OutcomeForwarded
	seq, err := x.s.o.Audit.Append(x.auditContext(), ev)
	switch {
	case err != nil:
		x.log.Error("audit record not written", "type", string(ev.Type), "error", err)
		if x.s.o.Audit.FailClosed() {
			return errAuditUnavailable
		}
	case seq == 0:
		x.audit = auditSkipped
	default:
		x.audit, x.auditSeq = auditForwarded, seq
	}
	return nil
}

// auditContext is the exchange's context without its cancellation, for
// the audit records: a record is written even when Envoy has gone away.
// One per exchange serves all its records.
func (x *exchange) auditContext() context.Context {
	if x.auditCtx == nil {
		x.auditCtx = context.WithoutCancel(x.ctx)
	}
	return x.auditCtx
}

// recordFinished writes what is left to record when the exchange ends: the
// whole record of a request that was not forwarded, or the mcp_response
// that completes a forwarded one.
func (x *exchange) recordFinished() {
	switch x.audit {
	case auditSkipped, auditWritten:
		return
	case auditForwarded:
		x.s.recordLater(x.auditContext(), x.eraAudit(x.responseEvent()))
	default:
		x.s.record(x.auditContext(), x.eraAudit(x.auditEvent()))
	}
}

// record writes ev (ctx carries no cancellation: see auditContext); a
// failure is logged here, once.
func (s *Server) record(ctx context.Context, ev *audit.Event) {
	if s.o.Audit == nil {
		return
	}
	if _, err := s.o.Audit.Append(ctx, ev); err != nil {
		s.o.Logger.Error("audit record not written", "type", string(ev.Type), "request_id", ev.RequestID, "error", err)
	}
}

// DeferredRecorder is a Recorder that can also take a record that may
// wait for the next write or a short timer (audit.Logger.AppendDeferred);
// like Append, AppendDeferred must not modify e.
type DeferredRecorder interface {
	AppendDeferred(ctx context.Context, e *audit.Event) error
}

// recordLater writes an mcp_response: nothing is decided on it, so it may
// ride with the next request's record in one write(2) when the recorder
// batches. A deferred record's write failure is logged and counted by the
// recorder itself.
func (s *Server) recordLater(ctx context.Context, ev *audit.Event) {
	d, ok := s.o.Audit.(DeferredRecorder)
	if !ok {
		s.record(ctx, ev)
		return
	}
	if err := d.AppendDeferred(ctx, ev); err != nil {
		s.o.Logger.Error("audit record not written", "type", string(ev.Type), "request_id", ev.RequestID, "error", err)
	}
}

// responseEvent is the mcp_response record of a forwarded request: only
// what became known after forwarding, and the seq of the request's record.
func (x *exchange) responseEvent() *audit.Event {
	p := &struct {
		ev   audit.Event
		http audit.HTTP
		aws  audit.AWS
	}{http: audit.HTTP{Method: x.hdr.method, Status: x.status}}
	ev := &p.ev
	*ev = audit.Event{
		Type:       audit.TypeMCPResponse,
		Outcome:    x.outcome,
		RequestID:  x.hdr.requestID,
		HTTP:       &p.http,
		DurationMS: float64(x.s.o.Now().Sub(x.start).Microseconds()) / 1000,
		RequestSeq: x.auditSeq,
	}
	if x.span != nil {
		if sc := x.span.SpanContext(); sc.IsValid() {
			ev.TraceID, ev.SpanID = sc.TraceID().String(), sc.SpanID().String()
		}
	}
	if x.upstreamRequestID != "" {
		p.aws = audit.AWS{UpstreamRequestID: x.upstreamRequestID}
		ev.AWS = &p.aws
	}
	x.listAudit(ev)
	return ev
}

// auditEvent describes the finished exchange for the audit trail.
func (x *exchange) auditEvent() *audit.Event {
	// The event and its usual sections are one allocation.
	p := &struct {
		ev    audit.Event
		http  audit.HTTP
		user  audit.User
		src   audit.Source
		mcp   audit.MCP
		authz audit.Authz
		aws   audit.AWS
		exp   time.Time
	}{}
	ev := &p.ev
	*ev = audit.Event{
		Outcome:    x.outcome,
		RequestID:  x.hdr.requestID,
		DurationMS: float64(x.s.o.Now().Sub(x.start).Microseconds()) / 1000,
	}
	p.http = audit.HTTP{Method: x.hdr.method, Status: x.status}
	ev.HTTP = &p.http
	if x.span != nil {
		if sc := x.span.SpanContext(); sc.IsValid() {
			ev.TraceID, ev.SpanID = sc.TraceID().String(), sc.SpanID().String()
		}
	}
	if x.id != nil {
		p.user = audit.User{Sub: x.id.Subject, Iss: x.id.Issuer, Provider: x.id.Provider, Tenant: x.id.Tenant, Email: x.id.Email, Groups: x.id.Groups}
		ev.User = &p.user
	}
	if x.sourceIP != "" || x.hdr.userAgent != "" {
		p.src = audit.Source{IP: x.sourceIP, UserAgent: x.hdr.userAgent}
		ev.Source = &p.src
	}
	batch := x.body != nil && x.body.Batch
	switch {
	case x.body != nil && batch:
		p.mcp = audit.MCP{Method: "batch", SessionID: x.hdr.sessionID}
		for _, m := range x.body.Messages {
			p.mcp.Batch = append(p.mcp.Batch, messageAudit(m))
		}
		ev.MCP = &p.mcp
	case x.body != nil:
		p.mcp = messageAudit(x.body.Messages[0])
		p.mcp.SessionID = x.hdr.sessionID
		ev.MCP = &p.mcp
	case x.hdr.sessionID != "":
		p.mcp = audit.MCP{SessionID: x.hdr.sessionID}
		ev.MCP = &p.mcp
	}
	method := ""
	if x.body != nil && !batch {
		method = x.body.Messages[0].Method
	}
	ev.Type = audit.EventTypeForMethod(method, batch, x.hdr.method)
	x.quotaAudit(ev)
	if x.decision != nil {
		d := "allow"
		if !x.decision.Allow {
			d = "deny"
		}
		p.authz = audit.Authz{Decision: d, Policies: x.decision.Policies}
		ev.Authz = &p.authz
		for _, e := range x.decision.Errors {
			ev.Authz.Errors = append(ev.Authz.Errors, e.PolicyID+": "+e.Message)
		}
	}
	if g := x.grant; g != nil {
		p.exp = g.Credentials.Expires
		p.aws = audit.AWS{
			RoleARN: g.RoleARN, RoleSessionName: g.SessionName, AssumedRoleARN: g.AssumedRoleARN,
			AccessKeyID: g.Credentials.AccessKeyID, STSRequestID: g.STSRequestID,
			CredentialsExpiration: &p.exp, CredentialsCached: g.Cached,
			Region: x.upstream.Region, Service: x.upstream.Service, UpstreamRequestID: x.upstreamRequestID,
			CredentialSource: "sts", AWSAccount: g.AWSAccount, PermissionSet: g.PermissionSet,
		}
		ev.AWS = &p.aws
		if g.Source != "" {
			ev.AWS.CredentialSource = g.Source
		}
		if g.Scope != nil {
			ev.AWS.SessionPolicyDigest, ev.AWS.SessionActions = g.Scope.PolicyDigest, g.Scope.Actions
		}
	}
	if x.decision != nil {
		addAWSAnalysis(ev, x.decision.Items)
	}
	x.listAudit(ev)
	if x.failure != nil {
		kind := mcpguard.KindOf(x.failure)
		ev.Error = &audit.Error{Kind: kind.String(), Reason: mcpguard.ReasonOf(x.failure), Message: mcpguard.SafeMessage(x.failure)}
		switch {
		case kind == mcpguard.KindUnauthenticated,
			// authn's own 403s (a groups overage) come before any
			// identity or decision exists.
			kind == mcpguard.KindForbidden && x.id == nil && x.decision == nil:
			ev.Type = audit.TypeAuthnFailure
		case x.decision != nil && !x.decision.Allow:
			ev.Type = audit.TypeAuthzDenied
		}
	}
	return ev
}

// listAudit adds what filtering a list response did to ev.
func (x *exchange) listAudit(ev *audit.Event) {
	l := x.list
	if l == nil {
		return
	}
	d := map[string]any{}
	if l.stats != nil {
		d["items_returned"] = l.stats.Returned
		d["items_removed"] = l.stats.Removed
	}
	for event, names := range l.pinEvents {
		d[event] = names
	}
	if len(d) > 0 {
		ev.Details = d
	}
	if l.failed != nil && x.failure == nil {
		ev.Outcome = audit.OutcomeError
		ev.Error = &audit.Error{Kind: mcpguard.KindOf(l.failed).String(), Reason: mcpguard.ReasonOf(l.failed), Message: mcpguard.SafeMessage(l.failed)}
	}
}

// messageAudit is the audit view of one JSON-RPC message; the audit logger
// redacts and truncates the arguments.
func messageAudit(m *mcp.Message) audit.MCP {
	a := audit.MCP{Method: m.Method, JSONRPCID: json.RawMessage(m.ID)}
	if m.Type == mcp.TypeResponse {
		a.Method = authz.ActionResponse
	}
	switch m.Method {
	case mcp.MethodToolsCall:
		if tc, err := m.ToolCall(); err == nil {
			a.Tool, a.Arguments = tc.Name, tc.Arguments
			if cmd, ok := tc.Arguments["cli_command"].(string); ok {
				a.CLI = cliAudit(cmd)
			}
		}
	case mcp.MethodPromptsGet:
		if pg, err := m.PromptGet(); err == nil {
			a.Prompt, a.Arguments = pg.Name, pg.Arguments
		}
	case mcp.MethodResourcesRead, mcp.MethodResourcesSubscribe, mcp.MethodResourcesUnsubscribe:
		if uri, err := m.ResourceURI(); err == nil {
			a.ResourceURI = uri
		}
	case mcp.MethodCompletionComplete:
		if c, err := m.Completion(); err == nil {
			a.Prompt, a.ResourceURI = c.Name, c.URI
		}
	case mcp.MethodInitialize:
		a.ProtocolVersion = m.ProtocolVersion()
	}
	return a
}

// cliAudit is the audit view of a cli_command: what policies saw. The
// view depends on the command's text alone, so each distinct command is
// parsed once (cliReadings); the returned CLI is shared between the events
// of equal commands and is never modified.
func cliAudit(cmd string) *audit.CLI { return cliReadings.reading(cmd) }

func readCLI(cmd string) *audit.CLI {
	c, err := authz.ParseCLICommand(cmd)
	if err != nil {
		return &audit.CLI{ParseError: err.Error()}
	}
	return &audit.CLI{Service: c.Service, Operation: c.Operation, Options: c.Options, Regions: c.Regions, Operands: c.Operands}
}

// Bounds of the cli_command cache: entries and bytes of keys (the
// commands), so varied commands cannot grow it without limit; longer
// commands are parsed every time.
const (
	cliCacheEntries  = 1024
	cliCacheKeyBytes = 1 << 20
	cliCacheMaxKey   = 4 << 10
)

// cliReadings remembers the audit view of recently seen cli_commands. It
// is shared by every Server: the view is a function of the text only.
var cliReadings = newCLICache()

// cliCache maps a cli_command to its audit view. When full, an arbitrary
// entry makes room.
type cliCache struct {
	mu       sync.RWMutex
	m        map[string]*audit.CLI
	keyBytes int
}

func newCLICache() *cliCache { return &cliCache{m: make(map[string]*audit.CLI)} }

// reading returns the audit view of cmd, parsing it only when it is not
// cached.
func (c *cliCache) reading(cmd string) *audit.CLI {
	if v, ok := c.get(cmd); ok {
		return v
	}
	v := readCLI(cmd)
	c.put(cmd, v)
	return v
}

func (c *cliCache) get(cmd string) (*audit.CLI, bool) {
	c.mu.RLock()
	v, ok := c.m[cmd]
	c.mu.RUnlock()
	return v, ok
}

func (c *cliCache) put(cmd string, v *audit.CLI) {
	if len(cmd) > cliCacheMaxKey {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[cmd]; ok {
		return
	}
	for k := range c.m {
		if len(c.m) < cliCacheEntries && c.keyBytes+len(cmd) <= cliCacheKeyBytes {
			break
		}
		c.keyBytes -= len(k)
		delete(c.m, k)
	}
	// The key is kept: a copy, so it does not pin the request it came in.
	c.m[strings.Clone(cmd)] = v
	c.keyBytes += len(cmd)
}

// endSpan names and annotates the request span once everything is known.
func (x *exchange) endSpan() {
	if x.span == nil {
		return
	}
	if !x.span.IsRecording() {
		// Name, attributes and status of a span nobody records are
		// dropped: do not build them (that decoded the tool call again).
		x.span.End()
		return
	}
	attrs := []attribute.KeyValue{
		telemetry.AttrHTTPMethod.String(x.hdr.method),
		telemetry.AttrHTTPStatusCode.Int(x.status),
		telemetry.AttrRequestID.String(x.hdr.requestID),
	}
	method, target := "", ""
	if x.body != nil && !x.body.Batch {
		m := x.body.Messages[0]
		method = m.Method
		attrs = append(attrs, telemetry.AttrMCPMethodName.String(m.Method))
		if m.Method == mcp.MethodToolsCall {
			if tc, err := m.ToolCall(); err == nil {
				target = tc.Name
				attrs = append(attrs, telemetry.AttrGenAIToolName.String(tc.Name))
			}
		}
	} else if x.body != nil {
		attrs = append(attrs, telemetry.AttrBatchSize.Int(len(x.body.Messages)))
	}
	if x.hdr.sessionID != "" {
		attrs = append(attrs, telemetry.AttrMCPSessionID.String(x.hdr.sessionID))
	}
	if x.id != nil {
		attrs = append(attrs, telemetry.AttrUserID.String(x.id.Subject))
	}
	if x.grant != nil {
		attrs = append(attrs, telemetry.AttrRoleARN.String(x.grant.RoleARN), telemetry.AttrAccessKeyID.String(x.grant.Credentials.AccessKeyID))
	}
	if x.upstreamRequestID != "" {
		attrs = append(attrs, telemetry.AttrAWSRequestID.String(x.upstreamRequestID))
	}
	x.span.SetName(telemetry.StreamSpanName(method, target))
	x.span.SetAttributes(attrs...)
	if x.failure != nil {
		x.span.SetAttributes(telemetry.AttrErrorType.String(mcpguard.KindOf(x.failure).String()))
		if x.status >= 500 {
			x.span.SetStatus(codes.Error, mcpguard.SafeMessage(x.failure))
		}
	}
	x.span.End()
}

// stage runs one pipeline stage under its own child span.
func stage[T any](x *exchange, name string, f func(ctx context.Context) (T, error)) (T, error) {
	if x.s.noopTracer {
		// A no-op tracer's child span would carry the request span's
		// context unchanged: skip the context and span it allocates.
		return f(x.ctx)
	}
	ctx, sp := x.tracer().Start(x.ctx, name)
	defer sp.End()
	v, err := f(ctx)
	if err != nil {
		sp.SetStatus(codes.Error, mcpguard.SafeMessage(err))
	}
	return v, err
}

// responseRecorded reports whether this exchange produces an audit record:
// the public RFC 9728 document does not.
func (x *exchange) audited() bool {
	return x.outcome != "" && !(x.hdr.method == http.MethodGet && x.method == "oauth-protected-resource")
}

// addAWSAnalysis records the context.aws actions and completeness of the
// decided messages.
func addAWSAnalysis(ev *audit.Event, items []authz.ItemDecision) {
	var (
		actions  []string
		complete = true
		found    int
	)
	for _, it := range items {
		if it.AWS == nil {
			continue
		}
		found++
		if found == 1 {
			// One analysis's actions are sorted and unique already
			// (authz builds them so); they are only read from here on.
			actions = it.AWS.Actions
		} else {
			actions = append(slices.Clip(actions), it.AWS.Actions...)
		}
		complete = complete && it.AWS.Complete
	}
	if found == 0 {
		return
	}
	if found > 1 {
		slices.Sort(actions)
		actions = slices.Compact(actions)
	}
	if ev.AWS == nil {
		ev.AWS = &audit.AWS{}
	}
	ev.AWS.Actions, ev.AWS.Complete = actions, &complete
}
