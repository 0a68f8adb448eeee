// Package fakeidp is an OpenID Connect issuer on loopback for tests and the
// local quickstart. It serves OIDC discovery and a JWKS like a real identity
// provider (content types, cache headers, 503 while "down"), rotates and
// retires signing keys on demand, counts JWKS fetches, and mints tokens —
// including deliberately hostile ones (alg none, HMAC keyed with the public
// key, foreign keys, jku/jwk/crit headers) so the authenticator's defences
// can be tested against real signatures.
//
// It must never be imported by production code: it signs whatever it is
// told to sign. It imports the standard library and jwx only.
//
// Specs: OpenID Connect Discovery 1.0 §3–4, RFC 7517 (JWK), RFC 7515 (JWS),
// RFC 7519 (JWT), RFC 8037 (EdDSA in JOSE).
package fakeidp
