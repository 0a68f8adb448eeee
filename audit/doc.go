// Package audit writes mcpguard's audit trail: one JSON object per line,
// schema "mcpguard.audit/v1": a record per MCP request (written before the
// request is forwarded; an mcp_response record completes it) and per
// security or lifecycle event (authentication failures, denials, STS
// exchanges, policy reloads, start and stop).
//
// Each record carries the hash of the record before it (prev_hash) and its
// own hash, SHA-256 over its canonical form: the exact bytes of the line up
// to, not including, `,"hash":"`, followed by `}`. Verify recomputes the
// chain from the bytes, so no re-encoding can disagree with the writer. A
// file output resumes its chain across restarts; stdout starts a new chain
// at Genesis in each process. Signed checkpoints (Ed25519 over {seq,
// hash, time}, RFC 8032) in a sidecar file anchor the head outside the
// log, so a deleted tail or a rewritten log is detected; Reopen continues
// the chain in a rotated file. docs/audit.md documents every field and
// type.
//
// Records never hold a token, an AWS secret key, a session token or a
// signature: argument values under configured keys are replaced, and every
// string recorded is scrubbed of JWT-, bearer-, session-token-, secret-key-
// and signature-shaped text before it is bounded in length.
//
// audit imports the standard library only; it must not import config,
// extproc or any domain package (callers map their types onto Event). It
// follows RFC 8259 (JSON), RFC 3339 (time), FIPS 180-4 (SHA-256) and
// RFC 9562 (version 4 UUIDs for audit_id).
package audit
