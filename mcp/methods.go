package mcp

// MCP method names (specification 2025-06-18). They are the Cedar actions
// policies name, and the only method values metrics may use as labels.
const (
	MethodInitialize             = "initialize"
	MethodPing                   = "ping"
	MethodToolsList              = "tools/list"
	MethodToolsCall              = "tools/call"
	MethodResourcesList          = "resources/list"
	MethodResourcesTemplatesList = "resources/templates/list"
	MethodResourcesRead          = "resources/read"
	MethodResourcesSubscribe     = "resources/subscribe"
	MethodResourcesUnsubscribe   = "resources/unsubscribe"
	MethodPromptsList            = "prompts/list"
	MethodPromptsGet             = "prompts/get"
	MethodCompletionComplete     = "completion/complete"
	MethodLoggingSetLevel        = "logging/setLevel"
	MethodSamplingCreateMessage  = "sampling/createMessage"
	MethodElicitationCreate      = "elicitation/create"
	MethodRootsList              = "roots/list"
	// MethodServerDiscover is the stateless capability discovery of
	// SEP-2575, which newer clients try before initialize.
	MethodServerDiscover = "server/discover"

	MethodNotificationInitialized      = "notifications/initialized"
	MethodNotificationCancelled        = "notifications/cancelled"
	MethodNotificationProgress         = "notifications/progress"
	MethodNotificationRootsListChanged = "notifications/roots/list_changed"
)

// KnownMethod reports whether m is one of the method constants above.
// Metrics label unknown methods as "other" so a client cannot create
// unbounded label values.
func KnownMethod(m string) bool {
	return knownMethod([]byte(m)) != ""
}

// knownMethod returns the constant equal to b, or "". Converting b inside
// the switch does not allocate, so parsing a known method costs nothing.
func knownMethod(b []byte) string {
	switch string(b) {
	case MethodInitialize:
		return MethodInitialize
	case MethodPing:
		return MethodPing
	case MethodToolsList:
		return MethodToolsList
	case MethodToolsCall:
		return MethodToolsCall
	case MethodResourcesList:
		return MethodResourcesList
	case MethodResourcesTemplatesList:
		return MethodResourcesTemplatesList
	case MethodResourcesRead:
		return MethodResourcesRead
	case MethodResourcesSubscribe:
		return MethodResourcesSubscribe
	case MethodResourcesUnsubscribe:
		return MethodResourcesUnsubscribe
	case MethodPromptsList:
		return MethodPromptsList
	case MethodPromptsGet:
		return MethodPromptsGet
	case MethodCompletionComplete:
		return MethodCompletionComplete
	case MethodLoggingSetLevel:
		return MethodLoggingSetLevel
	case MethodSamplingCreateMessage:
		return MethodSamplingCreateMessage
	case MethodElicitationCreate:
		return MethodElicitationCreate
	case MethodServerDiscover:
		return MethodServerDiscover
	case MethodRootsList:
		return MethodRootsList
	case MethodSubscriptionsListen:
		return MethodSubscriptionsListen
	case MethodTasksGet:
		return MethodTasksGet
	case MethodTasksUpdate:
		return MethodTasksUpdate
	case MethodTasksList:
		return MethodTasksList
	case MethodTasksCancel:
		return MethodTasksCancel
	case MethodTasksResult:
		return MethodTasksResult
	case MethodNotificationInitialized:
		return MethodNotificationInitialized
	case MethodNotificationCancelled:
		return MethodNotificationCancelled
	case MethodNotificationProgress:
		return MethodNotificationProgress
	case MethodNotificationRootsListChanged:
		return MethodNotificationRootsListChanged
	}
	return ""
}

// internMethod returns the method name as a string, sharing the constant
// for known methods.
func internMethod(b []byte) string {
	if m := knownMethod(b); m != "" {
		return m
	}
	return string(b)
}
