// Package fakeidp is an OpenID Connect issuer on loopback for tests and the
// local quickstart. It serves OIDC discovery and a JWKS like a real identity
// provider (content types, cache headers, 503 while "down"), rotates and
// retires signing keys on demand, counts JWKS fetches, and mints tokens —
// including deliberately hostile ones (alg none, HMAC keyed with the public
// key, foreign keys, jku/jwk/crit headers) so the authenticator's defences
// can be tested against real signatures.
//
// With EnableLogin it is also the OAuth 2.1 authorization server MCP
// clients log in with (oauth.go, login.go): RFC 8414 metadata advertising
// PKCE S256 only, RFC 7591 dynamic registration of public clients with
// https or loopback redirect URIs, a login page to pick a user, single-use
// codes bound to the client, redirect URI and S256 challenge (plain and a
// missing verifier are refused), and refresh tokens that rotate on use and
// revoke their family when a used one (or a used code) comes back.
//
// It must never be imported by production code: it signs whatever it is
// told to sign. It imports the standard library and jwx only.
//
// Specs: OpenID Connect Discovery 1.0 §3–4, RFC 7517 (JWK), RFC 7515 (JWS),
// RFC 7519 (JWT), RFC 8037 (EdDSA in JOSE); for login RFC 6749, RFC 7636
// (PKCE), RFC 7591, RFC 8414, RFC 8252 §7.3 (loopback redirects), RFC 9207.
package fakeidp
