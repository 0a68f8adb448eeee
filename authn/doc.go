// Package authn turns a request's bearer token into an Identity. It
// validates JWTs against the issuer's JWKS (found by OIDC discovery or
// configured), keeps that key set fresh in the background, caches verified
// tokens until they expire, and speaks the OAuth side of a 401: the
// WWW-Authenticate challenge and the protected-resource metadata document
// that tells MCP clients where to get a token.
//
// Several identity providers can be trusted at once (Multi): each token is
// routed to one provider by its unverified iss before any key is fetched
// (an unknown iss is refused without a network call), and verified with
// that provider's keys alone. Named providers read groups, roles, scopes
// and the session name through claim paths (ClaimAt) and give their users
// provider-qualified keys (Identity.UserKey), so a sub two IdPs both issue
// never names one user for the other.
//
// Two token sources are supported. In "header" mode mcpguard verifies the
// token itself. In "envoy_metadata" mode Envoy's jwt_authn filter has
// verified it too and handed mcpguard the claims as dynamic metadata;
// mcpguard still verifies the header token against the issuer's keys and
// requires the metadata to agree with it (iss, sub, aud, exp). Metadata is
// a hint from the ext_proc peer, never a substitute for a signature: a peer
// that forges it gains nothing.
//
// Security posture: only asymmetric algorithms from the configured list are
// accepted (never "none" or HMAC, whatever the key set holds); keys come only
// from the configured key set, selected by kid and checked against the
// algorithm — jku, x5u, x5c and embedded jwk headers are never followed;
// tokens carrying crit (or b64) headers are rejected because no extension is
// understood. Every failure is a *mcpguard.Error of KindUnauthenticated with
// a client-safe message and a Reason from a fixed set (see the Reason
// constants); the one exception is a groups overage (ReasonGroupsOverage),
// a KindForbidden refusal. Tokens never appear in errors or logs.
//
// This package must not import extproc, go-control-plane or any other
// domain package; it imports the standard library, jwx and package mcpguard.
//
// Specs: RFC 7515 (JWS), RFC 7517 (JWK), RFC 7519 (JWT), RFC 8725 (JWT best
// current practice), RFC 6750 (bearer tokens, WWW-Authenticate), RFC 9728
// (OAuth protected resource metadata), OpenID Connect Discovery 1.0.
package authn
