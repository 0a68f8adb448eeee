package audit

import (
	"encoding/json"
	"strings"
	"time"
)

// Schema names the record format. It changes only when a field changes
// meaning or is removed, so consumers can pin the version they parse.
const Schema = "mcpguard.audit/v1"

// Type names what happened. The set is closed: Record refuses a type not
// listed here, so every record in a log is one a consumer can expect.
type Type string

// Event types. The mcp_* types describe one HTTP request from an MCP
// client; the others describe gateway decisions and lifecycle.
const (
	TypeMCPInitialize            Type = "mcp_initialize"
	TypeMCPToolCall              Type = "mcp_tool_call"
	TypeMCPToolsList             Type = "mcp_tools_list"
	TypeMCPResourceRead          Type = "mcp_resource_read"
	TypeMCPResourcesList         Type = "mcp_resources_list"
	TypeMCPResourceTemplatesList Type = "mcp_resource_templates_list"
	TypeMCPPromptGet             Type = "mcp_prompt_get"
	TypeMCPPromptsList           Type = "mcp_prompts_list"
	TypeMCPCompletion            Type = "mcp_completion"
	TypeMCPLogging               Type = "mcp_logging"
	TypeMCPPing                  Type = "mcp_ping"
	TypeMCPNotification          Type = "mcp_notification"
	TypeMCPOtherRequest          Type = "mcp_other_request"
	TypeMCPBatch                 Type = "mcp_batch"
	TypeMCPStreamOpen            Type = "mcp_stream_open"
	TypeMCPSessionTerminate      Type = "mcp_session_terminate"
	TypeAuthnFailure             Type = "authn_failure"
	TypeAuthzDenied              Type = "authz_denied"
	TypeSTSAssumeRole            Type = "sts_assume_role"
	TypeSTSFailure               Type = "sts_failure"
	TypeCredentialsRefresh       Type = "credentials_refresh"
	TypePolicyReload             Type = "policy_reload"
	TypePolicyReloadFailed       Type = "policy_reload_failed"
	TypeConfigLoaded             Type = "config_loaded"
	TypeServerStart              Type = "server_start"
	TypeServerStop               Type = "server_stop"
	// TypeMCPResponse completes the record of a forwarded request: the
	// request's own record is written before Envoy forwards it, this one
	// when its answer has passed (status, upstream request id, list
	// filtering).
	TypeMCPResponse Type = "mcp_response"
	// TypeAuditLogDamaged is written when a resumed log is shorter than,
	// or differs from, its last signed checkpoint.
	TypeAuditLogDamaged Type = "audit_log_damaged"
	// TypeAuthzShadowMismatch is a request the shadow policy set
	// (authz_config.shadow_policy_files) would have decided otherwise; the
	// request itself got the decision of the set in force.
	TypeAuthzShadowMismatch Type = "authz_shadow_mismatch"
	// TypeMCPSessionRefused is a request refused because its
	// Mcp-Session-Id was not issued to the caller: a sealed session id of
	// another user, issuer or upstream, or one mcpguard did not seal
	// (error.reason session_other_user or session_forged). It never
	// reached the upstream.
	TypeMCPSessionRefused Type = "mcp_session_refused"
)

// Types lists every event type in documentation order, for configuration
// validation and tests. It returns a new slice each call.
func Types() []Type {
	return []Type{
		TypeMCPInitialize, TypeMCPToolCall, TypeMCPToolsList, TypeMCPResourceRead,
		TypeMCPResourcesList, TypeMCPResourceTemplatesList, TypeMCPPromptGet,
		TypeMCPPromptsList, TypeMCPCompletion, TypeMCPLogging, TypeMCPPing,
		TypeMCPNotification, TypeMCPOtherRequest, TypeMCPBatch, TypeMCPStreamOpen,
		TypeMCPSessionTerminate, TypeAuthnFailure, TypeAuthzDenied, TypeSTSAssumeRole,
		TypeSTSFailure, TypeCredentialsRefresh, TypePolicyReload, TypePolicyReloadFailed,
		TypeConfigLoaded, TypeServerStart, TypeServerStop, TypeMCPResponse, TypeAuditLogDamaged, TypeAuthzShadowMismatch,
		TypeMCPSessionRefused,
	}
}

// Valid reports whether t is one of the listed types.
func (t Type) Valid() bool {
	switch t {
	case TypeMCPInitialize, TypeMCPToolCall, TypeMCPToolsList, TypeMCPResourceRead,
		TypeMCPResourcesList, TypeMCPResourceTemplatesList, TypeMCPPromptGet,
		TypeMCPPromptsList, TypeMCPCompletion, TypeMCPLogging, TypeMCPPing,
		TypeMCPNotification, TypeMCPOtherRequest, TypeMCPBatch, TypeMCPStreamOpen,
		TypeMCPSessionTerminate, TypeAuthnFailure, TypeAuthzDenied, TypeSTSAssumeRole,
		TypeSTSFailure, TypeCredentialsRefresh, TypePolicyReload, TypePolicyReloadFailed,
		TypeConfigLoaded, TypeServerStart, TypeServerStop, TypeMCPResponse, TypeAuditLogDamaged, TypeAuthzShadowMismatch,
		TypeMCPSessionRefused:
		return true
	}
	return false
}

// Outcome is how the event ended, coarse enough to alert on.
type Outcome string

// Outcomes. Denied is a policy or authentication refusal; Failure is any
// other client error (4xx); Error is mcpguard's own fault (5xx);
// UpstreamError is an upstream reply with an error status or a JSON-RPC
// error object.
const (
	OutcomeSuccess       Outcome = "success"
	OutcomeDenied        Outcome = "denied"
	OutcomeFailure       Outcome = "failure"
	OutcomeError         Outcome = "error"
	OutcomeUpstreamError Outcome = "upstream_error"
	// OutcomeForwarded is the record of an allowed request written before
	// Envoy forwards it; its mcp_response record carries how it ended.
	OutcomeForwarded Outcome = "forwarded"
)

// Valid reports whether o is one of the listed outcomes.
func (o Outcome) Valid() bool {
	switch o {
	case OutcomeSuccess, OutcomeDenied, OutcomeFailure, OutcomeError, OutcomeUpstreamError, OutcomeForwarded:
		return true
	}
	return false
}

// EventTypeForMethod maps one HTTP request to its event type, so every
// caller names the same request the same way. Bodyless GET and DELETE are
// the streamable-HTTP stream and session-termination requests whatever the
// method argument says; a JSON array body is a batch; an empty method (a
// JSON-RPC response the client sends) and any method not listed is
// mcp_other_request.
func EventTypeForMethod(method string, batch bool, httpMethod string) Type {
	switch httpMethod {
	case "GET":
		return TypeMCPStreamOpen
	case "DELETE":
		return TypeMCPSessionTerminate
	}
	if batch {
		return TypeMCPBatch
	}
	switch method {
	case "initialize":
		return TypeMCPInitialize
	case "tools/call":
		return TypeMCPToolCall
	case "tools/list":
		return TypeMCPToolsList
	case "resources/read":
		return TypeMCPResourceRead
	case "resources/list":
		return TypeMCPResourcesList
	case "resources/templates/list":
		return TypeMCPResourceTemplatesList
	case "prompts/get":
		return TypeMCPPromptGet
	case "prompts/list":
		return TypeMCPPromptsList
	case "completion/complete":
		return TypeMCPCompletion
	case "logging/setLevel":
		return TypeMCPLogging
	case "ping":
		return TypeMCPPing
	}
	if strings.HasPrefix(method, "notifications/") {
		return TypeMCPNotification
	}
	return TypeMCPOtherRequest
}

// Event is what a caller knows about one thing that happened. Record adds
// the schema, time, audit_id, seq, prev_hash and hash; a nil section is
// left out of the record.
type Event struct {
	Type    Type    `json:"type"`
	Outcome Outcome `json:"outcome"`
	// RequestID is Envoy's x-request-id, which Envoy's access log carries
	// too.
	RequestID string `json:"request_id,omitempty"`
	// TraceID and SpanID are the W3C trace context of the request's span
	// (lowercase hex), joining the record to the trace.
	TraceID string  `json:"trace_id,omitempty"`
	SpanID  string  `json:"span_id,omitempty"`
	User    *User   `json:"user,omitempty"`
	Source  *Source `json:"source,omitempty"`
	MCP     *MCP    `json:"mcp,omitempty"`
	Authz   *Authz  `json:"authz,omitempty"`
	AWS     *AWS    `json:"aws,omitempty"`
	HTTP    *HTTP   `json:"http,omitempty"`
	// DurationMS is how long mcpguard took, in milliseconds.
	DurationMS float64 `json:"duration_ms,omitempty"`
	// Error explains a non-success outcome with client-safe text only.
	Error *Error `json:"error,omitempty"`
	// Details holds facts of lifecycle events (version, policy count,
	// config file); it is redacted like tool arguments.
	Details map[string]any `json:"details,omitempty"`
	// RequestSeq, in an mcp_response record, is the seq of the request's
	// own record.
	RequestSeq uint64 `json:"request_seq,omitempty"`
	// Limits are the rate limits that applied to the request, or the one
	// that refused it (docs/rate-limits.md).
	Limits []Limit `json:"limits,omitempty"`
}

// User is the authenticated caller, from the verified token's claims.
type User struct {
	Sub string `json:"sub,omitempty"`
	Iss string `json:"iss,omitempty"`
	// Provider is the oidc_providers name, so records of two IdPs that
	// issue the same sub are told apart; empty with oidc_config.
	Provider string   `json:"provider,omitempty"`
	Tenant   string   `json:"tenant,omitempty"`
	Email    string   `json:"email,omitempty"`
	Groups   []string `json:"groups,omitempty"`
}

// Source is where the request came from. IP is Envoy's source.address
// attribute (the downstream peer Envoy saw), never X-Forwarded-For.
type Source struct {
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
}

// MCP describes the JSON-RPC message. Arguments are recorded only when
// the logger includes them, after redaction and truncation.
type MCP struct {
	Method string `json:"method,omitempty"`
	// JSONRPCID is the raw id member (a JSON string or number).
	JSONRPCID json.RawMessage `json:"jsonrpc_id,omitempty"`
	Tool      string          `json:"tool,omitempty"`
	Prompt    string          `json:"prompt,omitempty"`
	// ResourceURI is params.uri of resources/read.
	ResourceURI     string         `json:"resource_uri,omitempty"`
	Arguments       map[string]any `json:"arguments,omitempty"`
	SessionID       string         `json:"session_id,omitempty"`
	ProtocolVersion string         `json:"protocol_version,omitempty"`
	// CLI is how mcpguard read the cli_command argument, recorded beside
	// the (possibly truncated) text so padding cannot hide what it names.
	CLI *CLI `json:"cli,omitempty"`
	// Batch lists the messages of a batch, in body order.
	Batch []MCP `json:"batch,omitempty"`
}

// CLI is the parsed AWS CLI command of a cli_command argument.
type CLI struct {
	Service   string   `json:"service,omitempty"`
	Operation string   `json:"operation,omitempty"`
	Options   []string `json:"options,omitempty"`
	Regions   []string `json:"regions,omitempty"`
	// Operands are the positional words (at most MaxCLIOperands; the
	// rest are counted in OperandsOmitted).
	Operands        []string `json:"operands,omitempty"`
	OperandsOmitted int      `json:"operands_omitted,omitempty"`
	// ParseError is set when the command could not be read.
	ParseError string `json:"parse_error,omitempty"`
}

// MaxCLIOperands bounds the operands a record lists.
const MaxCLIOperands = 16

// Authz is the authorization decision and what made it.
type Authz struct {
	// Decision is "allow" or "deny".
	Decision string `json:"decision,omitempty"`
	// Policies are the IDs of the policies that determined the decision.
	Policies []string `json:"policies,omitempty"`
	// Errors are policy evaluation errors.
	Errors []string `json:"errors,omitempty"`
}

// AWS holds the keys that join a record to CloudTrail. None of them is a
// secret: the access key ID is what CloudTrail itself records.
type AWS struct {
	RoleARN         string `json:"role_arn,omitempty"`
	RoleSessionName string `json:"role_session_name,omitempty"`
	// AssumedRoleARN is arn:aws:sts::<account>:assumed-role/<role>/<session>.
	AssumedRoleARN string `json:"assumed_role_arn,omitempty"`
	// AccessKeyID is the temporary ASIA… key id: CloudTrail's
	// userIdentity.accessKeyId on every call made with it.
	AccessKeyID string `json:"access_key_id,omitempty"`
	// STSRequestID is the requestID of the CloudTrail
	// AssumeRoleWithWebIdentity event that issued the credentials.
	STSRequestID string `json:"sts_request_id,omitempty"`
	// CredentialsExpiration is when the temporary credentials expire.
	CredentialsExpiration *time.Time `json:"credentials_expiration,omitempty"`
	// CredentialsCached is true when no STS call was made for this request.
	CredentialsCached bool   `json:"credentials_cached,omitempty"`
	Region            string `json:"region,omitempty"`
	Service           string `json:"service,omitempty"`
	// UpstreamRequestID is the x-amzn-RequestId of the upstream response.
	UpstreamRequestID string `json:"upstream_request_id,omitempty"`
	// Actions are the AWS operations ("s3:ListBuckets") the gateway found
	// in a run_script's code or a call_aws command (context.aws.actions;
	// the union over a batch), so an auditor sees what a script was
	// allowed, or refused, to perform.
	Actions []string `json:"actions,omitempty"`
	// Complete is context.aws.complete (false if any message of a batch is
	// incomplete); absent when no message reaches AWS APIs.
	Complete *bool `json:"complete,omitempty"`
	// CredentialSource names the path that signed the request: "sts"
	// (AssumeRoleWithWebIdentity) or "identity_center" (a permission set's
	// credentials from the AWS access portal).
	CredentialSource string `json:"credential_source,omitempty"`
	// SessionPolicyDigest is set when the request was signed with a
	// per-request session (scope_down: request): hex SHA-256 of the exact
	// inline session policy, equal to the SHA-256 of CloudTrail's
	// requestParameters.policy of the AssumeRoleWithWebIdentity event that
	// issued AccessKeyID. SessionActions are the IAM actions that policy
	// allows; absent with a digest means the session allows none.
	SessionPolicyDigest string   `json:"session_policy_digest,omitempty"`
	SessionActions      []string `json:"session_actions,omitempty"`
	// AWSAccount and PermissionSet are the account and permission set of
	// an Identity Center request.
	AWSAccount    string `json:"aws_account,omitempty"`
	PermissionSet string `json:"permission_set,omitempty"`
}

// HTTP is the request's HTTP facts.
type HTTP struct {
	Method string `json:"method,omitempty"`
	// Status is the status the client received: mcpguard's own for a
	// refusal, else the upstream's.
	Status int `json:"status,omitempty"`
}

// Error is the client-safe explanation of a non-success outcome.
type Error struct {
	// Kind is the error kind (unauthenticated, forbidden, ...).
	Kind string `json:"kind,omitempty"`
	// Reason is a short machine-readable cause (token_expired, ...).
	Reason string `json:"reason,omitempty"`
	// Message is the message the client was sent.
	Message string `json:"message,omitempty"`
}

// Entry is one record as read back from a log: the event plus the fields
// Record adds. Consumers and tests decode lines into it.
type Entry struct {
	Schema  string    `json:"schema"`
	Time    time.Time `json:"time"`
	AuditID string    `json:"audit_id"`
	Event
	// Seq counts records from 1 within one chain.
	Seq      uint64 `json:"seq"`
	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
}
