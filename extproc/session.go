package extproc

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"strings"
	"unsafe"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/authn"
)

// SessionKeys seal the upstream's Mcp-Session-Id into the id the client
// sees, bound to the caller (issuer and subject) and the upstream, so a
// session id issued to one user is worthless to another. Sealing is AES-256-
// GCM under a key derived from a secret every replica shares, so no replica
// needs shared state; the previous secret keeps ids sealed before a
// rotation working.
type SessionKeys struct {
	current, previous cipher.AEAD
}

// minSessionSecret is the shortest secret NewSessionKeys accepts.
const minSessionSecret = 32

// sessionPrefix marks (and versions) a sealed session id.
const sessionPrefix = "mg1."

// sessionAD binds the sealed bytes to their purpose.
var sessionAD = []byte("mcpguard session binding v1")

// NewSessionKeys derives the sealing keys from the current secret and the
// optional previous one (nil when there was no rotation).
func NewSessionKeys(current, previous []byte) (*SessionKeys, error) {
	k := &SessionKeys{}
	var err error
	if k.current, err = sessionAEAD(current); err != nil {
		return nil, err
	}
	if previous != nil {
		if k.previous, err = sessionAEAD(previous); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// RandomSessionKeys is a key for this process alone: sessions survive
// neither a restart nor a hop to another replica.
func RandomSessionKeys() *SessionKeys {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret) // crypto/rand.Read never fails
	k, _ := NewSessionKeys(secret, nil)
	return k
}

func sessionAEAD(secret []byte) (cipher.AEAD, error) {
	if len(secret) < minSessionSecret {
		return nil, errors.New("session binding secret must be at least 32 bytes")
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("mcpguard session binding key"))
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// LogValue keeps key material out of every log line.
func (k *SessionKeys) LogValue() slog.Value { return slog.StringValue("[REDACTED]") }

// owner is the binding of a session: who it was issued to, for which
// upstream.
type owner [16]byte

func ownerOf(id *authn.Identity, upstreamHost string) owner {
	// SHA-256 of issuer, subject and host, each followed by a zero byte,
	// hashed from a stack buffer: no allocation for real-size values.
	buf := make([]byte, 0, 512)
	for _, s := range []string{id.Issuer, id.Subject, upstreamHost} {
		buf = append(buf, s...)
		buf = append(buf, 0)
	}
	sum := sha256.Sum256(buf)
	var o owner
	copy(o[:], sum[:])
	return o
}

// seal wraps an upstream session id for its owner.
func (k *SessionKeys) seal(upstreamID string, o owner) string {
	nonce := make([]byte, k.current.NonceSize(), k.current.NonceSize()+len(o)+len(upstreamID)+k.current.Overhead())
	_, _ = rand.Read(nonce)
	plain := append(o[:], upstreamID...)
	return sessionPrefix + base64.RawURLEncoding.EncodeToString(k.current.Seal(nonce, nonce, plain, sessionAD))
}

// Why a client's session id was refused.
var (
	errSessionForged = errors.New("session id was not issued by mcpguard")
	errSessionOwner  = errors.New("session id was issued to another user")
)

// open unwraps a sealed session id for o: errSessionForged when no key
// opens it, errSessionOwner when it belongs to someone else. Every request
// of a session pays it, so it makes one allocation: the decoded bytes and
// the plaintext share one buffer, which the returned id then points into
// (nothing writes to the buffer after a successful Open).
func (k *SessionKeys) open(sealed string, o owner) (string, error) {
	enc, ok := strings.CutPrefix(sealed, sessionPrefix)
	if !ok {
		return "", errSessionForged
	}
	n := base64.RawURLEncoding.DecodedLen(len(enc))
	buf := make([]byte, 2*n)
	n, err := base64.RawURLEncoding.Decode(buf[:n], []byte(enc))
	if err != nil {
		return "", errSessionForged
	}
	raw, out := buf[:n], buf[n:n:2*n]
	for _, aead := range [...]cipher.AEAD{k.current, k.previous} {
		if aead == nil || len(raw) < aead.NonceSize() {
			continue
		}
		plain, err := aead.Open(out, raw[:aead.NonceSize()], raw[aead.NonceSize():], sessionAD)
		if err != nil || len(plain) <= len(o) {
			continue
		}
		if !hmac.Equal(plain[:len(o)], o[:]) {
			return "", errSessionOwner
		}
		up := plain[len(o):]
		return unsafe.String(unsafe.SliceData(up), len(up)), nil //nolint:gosec // buf is never written again
	}
	return "", errSessionForged
}

// sessionState is the session binding of one exchange.
type sessionState struct {
	// client is the sealed id the client sent, upstream the id it
	// unwrapped to.
	client, upstream string
	// issued is the id the upstream's response set, sealed for the
	// client in the response headers.
	issued string
	// refused says why the client's id was refused: "forged" or
	// "other_user".
	refused string
}

func (s *Server) sessionKeys() *SessionKeys { return s.o.Protocol.Sessions }

// openSession unwraps the client's Mcp-Session-Id and makes the request
// carry the upstream's id. An id not sealed for this caller is answered as
// an unknown session (404), which MCP clients handle by starting over.
func (x *exchange) openSession() error {
	sealed, ok := x.era.h.one(hdrSessionID)
	if !ok {
		return nil
	}
	up, err := x.s.sessionKeys().open(sealed, ownerOf(x.id, x.upstream.Host))
	if err != nil {
		x.era.session.refused = "forged"
		if errors.Is(err, errSessionOwner) {
			x.era.session.refused = "other_user"
		}
		x.log.Warn("session id refused", "reason", x.era.session.refused)
		return &mcpguard.Error{Kind: mcpguard.KindSessionNotFound, Msg: "session not found", Reason: "session_" + x.era.session.refused, Err: err}
	}
	x.era.session.client, x.era.session.upstream = sealed, up
	x.hdr.sessionID = up
	return nil
}

// eraRequestMutation makes the forwarded request carry the upstream's own
// session id (it is not signed, so rewriting it keeps the signature) and
// ask for an uncompressed stream where one is filtered.
func (x *exchange) eraRequestMutation(mut *extprocv3.HeaderMutation) {
	if x.era.session.upstream != "" {
		mut.SetHeaders = append(mut.SetHeaders, setHeader(hdrSessionID, x.era.session.upstream))
	}
	x.streamRequestMutation(mut)
}

// eraResponseHeaders seals the upstream's session id and asks for a
// stream's body chunk by chunk.
func (x *exchange) eraResponseHeaders(resp *extprocv3.ProcessingResponse, endOfStream bool) {
	x.responseSessionMutation(resp)
	x.streamModeOverride(resp)
	if x.era.stream != nil {
		x.era.stream.noBody = endOfStream
	}
}

// noteIssuedSession records the session id of the upstream's response.
func (x *exchange) noteIssuedSession(key, value string) {
	if key == hdrSessionID {
		x.era.session.issued = value
	}
}

// responseSessionMutation seals the upstream's session id before it reaches
// the client; the same id comes back as the same sealed value the client
// sent, so clients see a stable id.
func (x *exchange) responseSessionMutation(resp *extprocv3.ProcessingResponse) {
	issued := x.era.session.issued
	if issued == "" || x.id == nil {
		return
	}
	sealed := x.era.session.client
	if issued != x.era.session.upstream || sealed == "" {
		sealed = x.s.sessionKeys().seal(issued, ownerOf(x.id, x.upstream.Host))
	}
	cr := resp.GetResponseHeaders().GetResponse()
	if cr.HeaderMutation == nil {
		cr.HeaderMutation = &extprocv3.HeaderMutation{}
	}
	cr.HeaderMutation.SetHeaders = append(cr.HeaderMutation.SetHeaders, setHeader(hdrSessionID, sealed))
}
