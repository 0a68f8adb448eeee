package authn

import (
	"github.com/mcpguard/mcpguard"
)

// Reasons label every authentication failure (mcpguard.Error.Reason). The
// set is fixed so it can be a metric label; messages stay client-safe.
const (
	// ReasonMissing: no Authorization header, or a scheme other than Bearer.
	// The challenge then carries no error code (RFC 6750 §3.1).
	ReasonMissing = "missing"
	// ReasonMalformed: not "Bearer <compact JWS>", several Authorization
	// headers, undecodable parts, claims of the wrong JSON type.
	ReasonMalformed = "malformed"
	// ReasonBadAlgorithm: alg not in AllowedAlgorithms (none and HMAC
	// always), or not the algorithm of the key the kid names.
	ReasonBadAlgorithm = "bad_algorithm"
	// ReasonBadHeader: crit or b64 header present.
	ReasonBadHeader = "bad_header"
	// ReasonUnknownKey: no key in the key set matches kid, even after a refetch.
	ReasonUnknownKey = "unknown_key"
	// ReasonBadSignature: the signature does not verify.
	ReasonBadSignature = "bad_signature"
	// ReasonExpired: exp has passed (beyond the clock skew).
	ReasonExpired = "expired"
	// ReasonNotYetValid: nbf or iat lies in the future (beyond the clock skew).
	ReasonNotYetValid = "not_yet_valid"
	// ReasonBadIssuer: iss differs from the configured issuer.
	ReasonBadIssuer = "bad_issuer"
	// ReasonBadAudience: aud contains none of the configured audiences.
	ReasonBadAudience = "bad_audience"
	// ReasonMissingClaim: exp or sub is absent.
	ReasonMissingClaim = "missing_claim"
	// ReasonJWKSUnavailable: no key set could be fetched yet. The only
	// reason that comes with KindUnavailable rather than KindUnauthenticated.
	ReasonJWKSUnavailable = "jwks_unavailable"
	// ReasonMetadataMissing: envoy_metadata mode and no jwt_authn claims.
	ReasonMetadataMissing = "metadata_missing"
	// ReasonMetadataMismatch: the header token is not the one jwt_authn verified.
	ReasonMetadataMismatch = "metadata_mismatch"
	// ReasonInvalidClaim: sub, iss or a required claim is not a non-empty
	// string of at most MaxClaimBytes.
	ReasonInvalidClaim = "invalid_claim"
	// ReasonBadGroups: the group claim cannot be read whole (wrong type,
	// more than MaxGroups names, a distributed claim); see GroupsFromClaims.
	ReasonBadGroups = "bad_groups"
)

// Reasons lists every Reason this package can return, for pre-registering
// metric label values.
func Reasons() []string {
	return []string{
		ReasonMissing, ReasonMalformed, ReasonBadAlgorithm, ReasonBadHeader,
		ReasonUnknownKey, ReasonBadSignature, ReasonExpired, ReasonNotYetValid,
		ReasonBadIssuer, ReasonBadAudience, ReasonMissingClaim,
		ReasonJWKSUnavailable, ReasonMetadataMissing, ReasonMetadataMismatch,
		ReasonInvalidClaim, ReasonBadGroups, ReasonUnknownIssuer, ReasonGroupsOverage,
	}
}

// fail builds the one error shape this package returns. msg must be safe
// for clients; cause must never contain the token.
func fail(reason, msg string, cause error) *mcpguard.Error {
	e := mcpguard.E(mcpguard.KindUnauthenticated, msg, cause)
	e.Reason = reason
	return e
}
