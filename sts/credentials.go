package sts

import "github.com/mcpguard/mcpguard/credential"

// The credential types live in package credential, which the request path
// (extproc) imports without depending on STS; these names keep the
// package's API and its callers unchanged.
type (
	// Secret is credential.Secret: it prints as [REDACTED].
	Secret = credential.Secret
	// Credentials is credential.Credentials, temporary AWS credentials.
	Credentials = credential.Credentials
	// Grant is credential.Grant, the outcome of Broker.Credentials.
	Grant = credential.Grant
	// GrantScope is credential.GrantScope, a per-request session policy.
	GrantScope = credential.GrantScope
)
