// Package authz decides every MCP request with Cedar policies, down to tool
// arguments.
//
// Entity model (policies are written against it):
//
//   - principal User::"<sub>" with attributes sub, iss, email (when
//     present) and claims (a record of every claim that converts); its
//     parents are Group::"<g>" for each group of the identity.
//   - action Action::"<JSON-RPC method>" for every request and notification
//     (tools/call, initialize, notifications/initialized, …);
//     Action::"mcp:stream" for a bodyless GET, Action::"mcp:terminate" for a
//     bodyless DELETE, and Action::"mcp:response" for a JSON-RPC response
//     the client sends to answer a server request (sampling, elicitation).
//   - resource Tool::"<name>" with tool_name and arguments for tools/call;
//     Prompt::"<name>" with prompt_name and arguments for prompts/get;
//     Resource::"<normalized uri>" with uri and normalized_uri for
//     resources/read, resources/subscribe and resources/unsubscribe (URIs
//     whose forms differ beyond scheme and host case are refused, see
//     normalizeURI); Server::"<upstream
//     host>" for everything else.
//   - context: time (epoch seconds, Long), request_id, mcp_session_id (when
//     present), source_ip (an ipaddr from Envoy's source.address, never from
//     X-Forwarded-For, so isInRange works), and aws_cli for a tools/call with
//     a cli_command argument: {service, operation, args (Set of flags),
//     region} or {parse_error}; and aws for a tools/call of
//     aws___run_script (from the static analysis of its code, package
//     script) or with a cli_command (mapped through package awsapi):
//     {actions, services, calls, regions, complete, reasons, unknown,
//     read_only}, see AWSContext. Only run_script calls run the script analysis.
//
// JSON values become Cedar values as follows: string → String, bool → Bool,
// an integer literal in int64 range → Long, any other number → decimal when
// it is exact with four fractional digits, else the String of its literal;
// array → Set, object → Record, null → absent. Entities from the entities
// file with the principal's or resource's UID contribute parents and
// attributes.
//
// Decisions follow Cedar (default deny, forbid overrides permit, a permit
// that errors does not apply) with one rule added: a forbid that errors
// denies. A batch is allowed only when every message is.
//
// Lists are filtered by Visible: an item of tools/list, prompts/list,
// resources/list or resources/templates/list stays when some request that
// uses it (tools/call, prompts/get, resources/read) could be permitted for
// this principal. Values a list cannot know (tool and prompt arguments,
// context.aws_cli, context.aws, context.time, a template's resource) are
// left unknown and each candidate policy is partially evaluated (cedar-go
// x/exp/eval); an
// item is visible when some permit can still be true and no forbid is
// certain to match or to error. See Visible and examples/policies/README.md.
//
// Policies are compiled at load and indexed by action and resource scope.
// Reloads (polling or Reload) build a complete new set and swap it
// atomically; a set that fails to load is rejected and the last good one
// stays. So is a set that would silently drop guard rails (a policy file
// that holds no policy, or a reload that loses every forbid), unless
// Options.AllowGuardrailRemoval says otherwise. Polls are driven by a ticker
// or, in tests, by Options.ReloadTicks.
//
// Every load can type-check the policies against mcpguard's Cedar schema
// (schema.cedarschema, embedded; DefaultSchema) with cedar-go's validator
// (Options.SchemaValidation); problems name file:line:col, the policy and
// the attribute, with the nearest declared name. A shadow set
// (Options.ShadowPolicyFiles) decides every request a second time without
// changing the decision and reports each comparison to OnShadow. Explain
// lists, for a denied request, the permits that came closest.
//
// authz must not import extproc or go-control-plane; besides cedar-go,
// authn and mcp it imports awsapi and script for context.aws. It follows the Cedar
// policy language (cedar-go v1.9.1), JSON-RPC 2.0 and the MCP
// specification's method names.
package authz
