package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// exampleEvents returns realistic events of every type but
// audit_log_damaged (which verify reports as a finding), in Types() order
// with the mcp_response records after the requests they complete. They
// fill testdata/golden.log and the examples of docs/audit.md.
func exampleEvents() []*Event {
	user := &User{Sub: "00u1a2b3c4", Iss: "https://example.okta.com/oauth2/default", Email: "dev@example.com", Groups: []string{"s3-readers"}}
	src := &Source{IP: "10.0.3.17", UserAgent: "claude-code/2.1.4"}
	allow := &Authz{Decision: "allow", Policies: []string{"s3-readers-call-aws"}}
	expires := time.Date(2026, 3, 14, 15, 9, 27, 0, time.UTC)
	aws := &AWS{
		RoleARN:               "arn:aws:iam::111122223333:role/S3ReadOnlyMCPRole",
		RoleSessionName:       "00u1a2b3c4",
		AssumedRoleARN:        "arn:aws:sts::111122223333:assumed-role/S3ReadOnlyMCPRole/00u1a2b3c4",
		AccessKeyID:           "ASIAQNZGKQ5EXAMPLE7Q",
		STSRequestID:          "c6104cbe-af31-11e0-8154-cbc7ccf896c7",
		CredentialsExpiration: &expires,
		CredentialsCached:     true,
		Region:                "us-east-1",
		Service:               "aws-mcp",
	}
	withUpstream := func(id string) *AWS { a := *aws; a.UpstreamRequestID = id; return &a }
	session := "c2a7f0d4-1b2e-4f3a-9c8d-7e6f5a4b3c2d"
	mcpReq := func(typ Type, method string, id string, m MCP) *Event {
		m.Method = method
		if id != "" {
			m.JSONRPCID = json.RawMessage(id)
		}
		if method != "initialize" {
			m.SessionID = session
		}
		m.ProtocolVersion = "2025-06-18"
		return &Event{
			Type: typ, Outcome: OutcomeForwarded,
			RequestID: "9f2b8c1e-5d3a-4e7b-a1c2-3d4e5f607182",
			TraceID:   "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7",
			User: user, Source: src, MCP: &m, Authz: allow,
			AWS:        withUpstream(""),
			HTTP:       &HTTP{Method: "POST"},
			DurationMS: 0.412,
		}
	}
	response := func(seq uint64, outcome Outcome, status int) *Event {
		return &Event{Type: TypeMCPResponse, Outcome: outcome, RequestID: "9f2b8c1e-5d3a-4e7b-a1c2-3d4e5f607182",
			TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7",
			AWS:  &AWS{UpstreamRequestID: "3a0c8b1e-7f2d-4c5b-9e8a-1d2c3b4a5f60"},
			HTTP: &HTTP{Method: "POST", Status: status}, DurationMS: 212.9, RequestSeq: seq}
	}
	listed := response(4, OutcomeSuccess, 200)
	listed.Details = map[string]any{"items_returned": 12, "items_removed": 3}
	toolCall := mcpReq(TypeMCPToolCall, "tools/call", "18", MCP{Tool: "aws___call_aws", Arguments: map[string]any{
		"cli_command": "aws s3 ls s3://example-bucket --region us-east-1",
		"password":    "never recorded",
	}})
	upstreamErr := mcpReq(TypeMCPResourceRead, "resources/read", `"r-7"`, MCP{ResourceURI: "file:///var/log/app.log"})
	stream := mcpReq(TypeMCPStreamOpen, "", "", MCP{})
	stream.MCP.ProtocolVersion = "2025-06-18"
	stream.HTTP = &HTTP{Method: "GET"}
	terminate := mcpReq(TypeMCPSessionTerminate, "", "", MCP{})
	terminate.HTTP = &HTTP{Method: "DELETE"}
	notification := mcpReq(TypeMCPNotification, "notifications/initialized", "", MCP{})
	batch := mcpReq(TypeMCPBatch, "", "", MCP{Batch: []MCP{
		{Method: "tools/list", JSONRPCID: json.RawMessage(`3`)},
		{Method: "prompts/list", JSONRPCID: json.RawMessage(`4`)},
	}})
	denied := mcpReq(TypeAuthzDenied, "tools/call", "19", MCP{Tool: "aws___call_aws", Arguments: map[string]any{
		"cli_command": "aws s3 rm s3://example-bucket/report.csv",
	}})
	denied.Outcome = OutcomeDenied
	denied.Authz = &Authz{Decision: "deny", Policies: []string{"forbid-s3-writes"}}
	denied.AWS = nil
	denied.HTTP = &HTTP{Method: "POST", Status: 403}
	denied.Error = &Error{Kind: "forbidden", Reason: "policy_denied", Message: "forbidden by policy"}
	assumed := func(refresh bool) *Event {
		a := *aws
		a.CredentialsCached = false
		typ := TypeSTSAssumeRole
		if refresh {
			typ = TypeCredentialsRefresh
		}
		return &Event{Type: typ, Outcome: OutcomeSuccess, RequestID: "9f2b8c1e-5d3a-4e7b-a1c2-3d4e5f607182",
			User: &User{Sub: user.Sub, Iss: user.Iss}, AWS: &a, DurationMS: 84.7}
	}
	other := mcpReq(TypeMCPOtherRequest, "resources/subscribe", "31", MCP{ResourceURI: "file:///var/log/app.log"})
	other.Outcome = OutcomeFailure
	other.AWS = nil
	other.HTTP = &HTTP{Method: "POST", Status: 400}
	other.Error = &Error{Kind: "invalid_request", Reason: "unsupported_method", Message: "method not supported"}
	return []*Event{
		mcpReq(TypeMCPInitialize, "initialize", "0", MCP{}),
		toolCall,
		response(2, OutcomeSuccess, 200),
		mcpReq(TypeMCPToolsList, "tools/list", "1", MCP{}),
		listed,
		upstreamErr,
		response(6, OutcomeUpstreamError, 404),
		mcpReq(TypeMCPResourcesList, "resources/list", "5", MCP{}),
		mcpReq(TypeMCPResourceTemplatesList, "resources/templates/list", "6", MCP{}),
		mcpReq(TypeMCPPromptGet, "prompts/get", "7", MCP{Prompt: "review", Arguments: map[string]any{"file": "main.go"}}),
		mcpReq(TypeMCPPromptsList, "prompts/list", "8", MCP{}),
		mcpReq(TypeMCPCompletion, "completion/complete", "9", MCP{Prompt: "review"}),
		mcpReq(TypeMCPLogging, "logging/setLevel", "10", MCP{}),
		mcpReq(TypeMCPPing, "ping", "11", MCP{}),
		notification,
		other,
		batch,
		stream,
		terminate,
		{Type: TypeAuthnFailure, Outcome: OutcomeDenied, RequestID: "5e1d2c3b-4a59-4687-9a8b-7c6d5e4f3a2b",
			Source: src, HTTP: &HTTP{Method: "POST", Status: 401},
			Error: &Error{Kind: "unauthenticated", Reason: "token_expired", Message: "the bearer token has expired"}},
		denied,
		assumed(false),
		{Type: TypeSTSFailure, Outcome: OutcomeError, RequestID: "7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d",
			User:  &User{Sub: user.Sub, Iss: user.Iss},
			AWS:   &AWS{RoleARN: aws.RoleARN, RoleSessionName: aws.RoleSessionName, STSRequestID: "d2b4e6f8-0a1c-4e3d-b5f7-9a8b7c6d5e4f", Region: "us-east-1"},
			Error: &Error{Kind: "credentials_unavailable", Reason: "AccessDenied", Message: "temporary AWS credentials are unavailable"}, DurationMS: 61.2},
		assumed(true),
		{Type: TypePolicyReload, Outcome: OutcomeSuccess, Details: map[string]any{"policy_files": []any{"policies/mcp.cedar"}, "policies": 7}},
		{Type: TypePolicyReloadFailed, Outcome: OutcomeError, Details: map[string]any{"policy_files": []any{"policies/mcp.cedar"}},
			Error: &Error{Kind: "internal", Reason: "policy_parse", Message: "policies/mcp.cedar:12:3: unexpected token"}},
		{Type: TypeConfigLoaded, Outcome: OutcomeSuccess, Details: map[string]any{"config_file": "/etc/mcpguard/mcpguard.yaml", "config_sha256": "3f1d5c9a7b2e4f6081a3c5e7d9b1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b5d7"}},
		{Type: TypeServerStart, Outcome: OutcomeSuccess, Details: map[string]any{"version": "v0.1.0", "grpc_listen": ":9002", "admin_listen": ":9090"}},
		{Type: TypeServerStop, Outcome: OutcomeSuccess, Details: map[string]any{"reason": "SIGTERM"}},
		{Type: TypeAuthzShadowMismatch, Outcome: OutcomeSuccess, RequestID: "2b7c9d1e-3f4a-4b5c-8d6e-7f8a9b0c1d2e",
			User: user, Authz: &Authz{Decision: "allow", Policies: []string{"s3-readers-call-aws"}},
			Details: map[string]any{"result": "would_deny", "shadow_decision": "deny", "shadow_policies": []any{},
				"action": "tools/call", "resource": `Tool::"aws___call_aws"`}},
		{Type: TypeMCPSessionRefused, Outcome: OutcomeFailure, RequestID: "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9",
			User: &User{Sub: "00u9z8y7x6", Iss: user.Iss, Email: "other@example.com", Groups: []string{"ec2-viewers"}}, Source: src,
			MCP:   &MCP{Method: "tools/list", JSONRPCID: json.RawMessage("14"), ProtocolVersion: "2025-11-25"},
			HTTP:  &HTTP{Method: "POST", Status: 404},
			Error: &Error{Kind: "session_not_found", Reason: "session_other_user", Message: "session not found"}},
	}
}

// ExampleLogger_Record records a tool call; the password argument is
// redacted and the record joins the hash chain.
func ExampleLogger_Record() {
	l, err := New(Options{
		Enabled:          true,
		Writer:           os.Stdout,
		IncludeArguments: true,
		RedactKeys:       []string{"password"},
		Now:              func() time.Time { return time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC) },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	err = l.Record(context.Background(), &Event{
		Type:    TypeMCPToolCall,
		Outcome: OutcomeSuccess,
		MCP: &MCP{Method: "tools/call", Tool: "db_query", Arguments: map[string]any{
			"sql": "select 1", "password": "hunter2",
		}},
	})
	fmt.Println(err)
}

// ExampleVerify checks a log and prints where its chain breaks.
func ExampleVerify() {
	rep, err := Verify(strings.NewReader(""))
	fmt.Println(rep.BrokenAt, err)
	// Output: 0 not an mcpguard audit log: the input is empty
}
