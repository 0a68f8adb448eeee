package extproc

import (
	"context"
	"encoding/json"
	"net/http"

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
	Record(ctx context.Context, e *audit.Event) error
	// FailClosed reports whether a request must be refused when the trail
	// cannot be written (audit_config.on_failure: deny).
	FailClosed() bool
	// Healthy reports whether the last write (by anyone) succeeded.
	Healthy() bool
}

// errAuditUnavailable refuses requests while the audit trail cannot be
// written and on_failure is deny: nothing is forwarded without a record.
var errAuditUnavailable = mcpguard.E(mcpguard.KindUnavailable, "audit trail unavailable; request refused", nil)

// auditBlocked reports whether requests must be refused because the last
// audit write failed. The refusal's own record is the probe: once a write
// succeeds again, requests flow again.
func (s *Server) auditBlocked() bool {
	return s.o.Audit != nil && s.o.Audit.FailClosed() && !s.o.Audit.Healthy()
}

// record writes ev; a failure is logged here, once.
func (s *Server) record(ctx context.Context, ev *audit.Event) {
	if s.o.Audit == nil {
		return
	}
	if err := s.o.Audit.Record(context.WithoutCancel(ctx), ev); err != nil {
		s.o.Logger.Error("audit record not written", "type", string(ev.Type), "request_id", ev.RequestID, "error", err)
	}
}

// auditEvent describes the finished exchange for the audit trail.
func (x *exchange) auditEvent() *audit.Event {
	ev := &audit.Event{
		Outcome:    audit.Outcome(x.outcome),
		RequestID:  x.hdr.requestID,
		HTTP:       &audit.HTTP{Method: x.hdr.method, Status: x.status},
		DurationMS: float64(x.s.o.Now().Sub(x.start).Microseconds()) / 1000,
	}
	if x.span != nil {
		if sc := x.span.SpanContext(); sc.IsValid() {
			ev.TraceID, ev.SpanID = sc.TraceID().String(), sc.SpanID().String()
		}
	}
	if x.id != nil {
		ev.User = &audit.User{Sub: x.id.Subject, Iss: x.id.Issuer, Email: x.id.Email, Groups: x.id.Groups}
	}
	if x.sourceIP != "" || x.hdr.userAgent != "" {
		ev.Source = &audit.Source{IP: x.sourceIP, UserAgent: x.hdr.userAgent}
	}
	batch := x.body != nil && x.body.Batch
	switch {
	case x.body != nil && batch:
		ev.MCP = &audit.MCP{Method: "batch", SessionID: x.hdr.sessionID}
		for _, m := range x.body.Messages {
			ev.MCP.Batch = append(ev.MCP.Batch, messageAudit(m))
		}
	case x.body != nil:
		m := messageAudit(x.body.Messages[0])
		m.SessionID = x.hdr.sessionID
		ev.MCP = &m
	case x.hdr.sessionID != "":
		ev.MCP = &audit.MCP{SessionID: x.hdr.sessionID}
	}
	method := ""
	if x.body != nil && !batch {
		method = x.body.Messages[0].Method
	}
	ev.Type = audit.EventTypeForMethod(method, batch, x.hdr.method)
	if x.decision != nil {
		d := "allow"
		if !x.decision.Allow {
			d = "deny"
		}
		ev.Authz = &audit.Authz{Decision: d, Policies: x.decision.Policies}
		for _, e := range x.decision.Errors {
			ev.Authz.Errors = append(ev.Authz.Errors, e.PolicyID+": "+e.Message)
		}
	}
	if g := x.grant; g != nil {
		exp := g.Credentials.Expires
		ev.AWS = &audit.AWS{
			RoleARN: g.RoleARN, RoleSessionName: g.SessionName, AssumedRoleARN: g.AssumedRoleARN,
			AccessKeyID: g.Credentials.AccessKeyID, STSRequestID: g.STSRequestID,
			CredentialsExpiration: &exp, CredentialsCached: g.Cached,
			Region: x.upstream.Region, Service: x.upstream.Service, UpstreamRequestID: x.upstreamRequestID,
			CredentialSource: "sts", AWSAccount: g.AWSAccount, PermissionSet: g.PermissionSet,
		}
		if g.Source != "" {
			ev.AWS.CredentialSource = g.Source
		}
	}
	if l := x.list; l != nil {
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
	if x.failure != nil {
		kind := mcpguard.KindOf(x.failure)
		ev.Error = &audit.Error{Kind: kind.String(), Reason: mcpguard.ReasonOf(x.failure), Message: mcpguard.SafeMessage(x.failure)}
		switch {
		case kind == mcpguard.KindUnauthenticated:
			ev.Type = audit.TypeAuthnFailure
		case x.decision != nil && !x.decision.Allow:
			ev.Type = audit.TypeAuthzDenied
		}
	}
	return ev
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
		}
	case mcp.MethodPromptsGet:
		if pg, err := m.PromptGet(); err == nil {
			a.Prompt, a.Arguments = pg.Name, pg.Arguments
		}
	case mcp.MethodResourcesRead:
		if rr, err := m.ResourceRead(); err == nil {
			a.ResourceURI = rr.URI
		}
	case mcp.MethodInitialize:
		a.ProtocolVersion = m.ProtocolVersion()
	}
	return a
}

// endSpan names and annotates the request span once everything is known.
func (x *exchange) endSpan() {
	if x.span == nil {
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
