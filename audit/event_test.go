package audit

import "testing"

func TestEventTypeForMethod(t *testing.T) {
	tests := []struct {
		method     string
		batch      bool
		httpMethod string
		want       Type
	}{
		{"initialize", false, "POST", TypeMCPInitialize},
		{"tools/call", false, "POST", TypeMCPToolCall},
		{"tools/list", false, "POST", TypeMCPToolsList},
		{"resources/read", false, "POST", TypeMCPResourceRead},
		{"resources/list", false, "POST", TypeMCPResourcesList},
		{"resources/templates/list", false, "POST", TypeMCPResourceTemplatesList},
		{"prompts/get", false, "POST", TypeMCPPromptGet},
		{"prompts/list", false, "POST", TypeMCPPromptsList},
		{"completion/complete", false, "POST", TypeMCPCompletion},
		{"logging/setLevel", false, "POST", TypeMCPLogging},
		{"ping", false, "POST", TypeMCPPing},
		{"notifications/initialized", false, "POST", TypeMCPNotification},
		{"notifications/cancelled", false, "POST", TypeMCPNotification},
		{"resources/subscribe", false, "POST", TypeMCPOtherRequest},
		{"", false, "POST", TypeMCPOtherRequest},
		{"Tools/Call", false, "POST", TypeMCPOtherRequest},
		{"tools/call", true, "POST", TypeMCPBatch},
		{"", false, "GET", TypeMCPStreamOpen},
		{"tools/call", false, "GET", TypeMCPStreamOpen},
		{"", false, "DELETE", TypeMCPSessionTerminate},
		{"", true, "DELETE", TypeMCPSessionTerminate},
	}
	for _, tt := range tests {
		t.Run(tt.httpMethod+" "+tt.method, func(t *testing.T) {
			if got := EventTypeForMethod(tt.method, tt.batch, tt.httpMethod); got != tt.want {
				t.Errorf("EventTypeForMethod(%q, %v, %q) = %s, want %s", tt.method, tt.batch, tt.httpMethod, got, tt.want)
			}
		})
	}
}

func TestTypesAreValid(t *testing.T) {
	seen := map[Type]bool{}
	for _, typ := range Types() {
		if !typ.Valid() || seen[typ] {
			t.Errorf("type %q invalid or listed twice", typ)
		}
		seen[typ] = true
	}
	if len(seen) != 30 {
		t.Errorf("%d types, want 30", len(seen))
	}
	for _, bad := range []Type{"", "mcp_tool", "MCP_TOOL_CALL"} {
		if bad.Valid() {
			t.Errorf("%q is valid", bad)
		}
	}
	for _, o := range []Outcome{OutcomeSuccess, OutcomeDenied, OutcomeFailure, OutcomeError, OutcomeUpstreamError, OutcomeForwarded} {
		if !o.Valid() {
			t.Errorf("outcome %q invalid", o)
		}
	}
	if Outcome("ok").Valid() {
		t.Error(`outcome "ok" valid`)
	}
}
