package extproc

import (
	"encoding/json"
	"errors"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/audit"
	"github.com/mcpguard/mcpguard/authz"
	"github.com/mcpguard/mcpguard/mcp"
)

// metadataURLer names the RFC 9728 metadata document of a resource, for the
// resource_metadata of a step-up challenge.
type metadataURLer interface {
	MetadataURLFor(resource string) string
}

// eraDenial adjusts the answer to a refused request: the step-up challenge
// of a denial that more scopes would lift, and the denial response the
// operator chose for policy denials. It returns nil when d is answered as
// it stands.
func (x *exchange) eraDenial(err error, d *denial) *extprocv3.ProcessingResponse {
	var is *authz.InsufficientScope
	if errors.As(err, &is) {
		d.stepUp = x.stepUpChallenge(is.Scopes)
		return nil
	}
	if mcpguard.KindOf(err) != mcpguard.KindForbidden || mcpguard.ReasonOf(err) != "policy_denied" {
		return nil
	}
	mode := x.s.o.Protocol.Denial
	if mode == "" || mode == DenialHTTPError || x.body == nil || x.body.Batch || x.body.Messages[0].Type != mcp.TypeRequest {
		return nil
	}
	m := x.body.Messages[0]
	var body []byte
	if mode == DenialToolResult && m.Method == mcp.MethodToolsCall {
		body = toolResultDenial(m.ID, mcpguard.SafeMessage(err))
	} else {
		data := map[string]any{"kind": mcpguard.KindForbidden.String()}
		if x.hdr.requestID != "" {
			data["request_id"] = x.hdr.requestID
		}
		body = mcp.ErrorBody(m.ID, mappingFor(mcpguard.KindForbidden).code, mcpguard.SafeMessage(err), data)
	}
	x.status = 200
	return immediateResponse(200, []*corev3.HeaderValueOption{
		setHeader("content-type", "application/json"),
		setHeader("cache-control", "no-store"),
	}, body, "mcpguard_forbidden")
}

// toolResultDenial is a tools/call result with isError true whose text
// names the refused action, so the model reads why and can tell the user.
func toolResultDenial(id json.RawMessage, reason string) []byte {
	type content struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	b, _ := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Result  any             `json:"result"`
	}{"2.0", id, struct {
		Content []content `json:"content"`
		IsError bool      `json:"isError"`
	}{[]content{{"text", "mcpguard refused this call: " + reason}}, true}})
	return b
}

// stepUpChallenge is the RFC 6750 insufficient_scope challenge of the MCP
// authorization spec: the scopes to ask for and where the metadata is.
func (x *exchange) stepUpChallenge(scopes []string) string {
	var b strings.Builder
	b.WriteString(`Bearer error="insufficient_scope", scope="`)
	b.WriteString(strings.Join(scopes, " "))
	b.WriteByte('"')
	if mu, ok := x.s.o.Authn.(metadataURLer); ok {
		if u := mu.MetadataURLFor(x.resource()); u != "" {
			b.WriteString(`, resource_metadata="`)
			b.WriteString(u)
			b.WriteByte('"')
		}
	}
	return b.String()
}

// eraAudit records a refused session id as an event of its own,
// mcp_session_refused, whose error reason (session_other_user,
// session_forged) says why, and the request's protocol revision.
func (x *exchange) eraAudit(ev *audit.Event) *audit.Event {
	if x.era.session.refused != "" {
		ev.Type = audit.TypeMCPSessionRefused
	}
	if st := x.era.stream; st != nil && (st.lists > 0 || st.dropped > 0 || st.failed != nil) {
		if ev.Details == nil {
			ev.Details = map[string]any{}
		}
		ev.Details["stream_lists_filtered"] = st.lists
		ev.Details["stream_items_removed"] = st.removed
		ev.Details["stream_events_dropped"] = st.dropped
		if st.failed != nil && x.failure == nil {
			ev.Outcome = audit.OutcomeError
			ev.Error = &audit.Error{Kind: mcpguard.KindOf(st.failed).String(), Message: mcpguard.SafeMessage(st.failed)}
		}
	}
	if ev.MCP != nil && ev.MCP.ProtocolVersion == "" {
		ev.MCP.ProtocolVersion = x.era.version
	}
	return ev
}
