package sts

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"time"
	"unsafe"
)

// compactGrant is the form in which the cache holds a Grant: one string
// (blob) with every per-user value packed as small as it can be restored
// exactly, and the role ARN, which is the configuration's own string and
// shared by every user of the role. The cache holds one per user for up to
// the session duration, so this is what docs/performance.md's memory per
// cached credential measures:
//
//   - the session token and the secret key, which STS returns in standard
//     base64, are kept decoded (three quarters of their size);
//   - the STS request ID, a UUID, is kept as its 16 bytes;
//   - the assumed-role ARN is not kept when it is what STS always makes of
//     the role ARN and the session name;
//   - the times are Unix nanoseconds.
//
// Each step applies only when restoring gives back the exact value, so a
// grant never changes by being cached.
type compactGrant struct {
	roleARN string
	blob    string
}

// The blob: notAfter and expires (8 bytes each), the stored lengths of
// session name, access key ID, secret, token, request ID, assumed-role ARN
// (uint16 each), a flags byte, then those values; with flagExtras, three
// more lengths and Source, AWSAccount, PermissionSet, then the scope of a
// per-request session: the policy digest (length-prefixed, empty for
// none), the number of actions and each action, length-prefixed.
const (
	blobHead = 16 + 6*2 + 1

	flagTokenDecoded  = 1 << iota
	flagSecretDecoded // secret kept base64-decoded
	flagRequestUUID   // request ID kept as 16 bytes
	flagARNDerived    // assumed-role ARN derived, not kept
	flagNoExpiry      // Credentials.Expires is the zero time
	flagNoNotAfter    // NotAfter is the zero time
	flagExtras        // Source, AWSAccount or PermissionSet set
)

// compactable reports whether every stored value fits the uint16 lengths;
// a grant that does not is cached as it is (packed).
func compactable(g *Grant) bool {
	for _, s := range [...]string{g.SessionName, g.Credentials.AccessKeyID, string(g.Credentials.SecretAccessKey),
		string(g.Credentials.SessionToken), g.STSRequestID, g.AssumedRoleARN, g.Source, g.AWSAccount, g.PermissionSet} {
		if len(s) > 0xffff {
			return false
		}
	}
	if sc := g.Scope; sc != nil {
		// A scope is recognised by its digest, which every per-request
		// policy has.
		if sc.PolicyDigest == "" || len(sc.PolicyDigest) > 0xffff || len(sc.Actions) > 0xffff {
			return false
		}
		for _, a := range sc.Actions {
			if len(a) > 0xffff {
				return false
			}
		}
	}
	return true
}

func compact(g *Grant) compactGrant {
	var flags byte
	token, tokenDecoded := decodeExact(string(g.Credentials.SessionToken))
	if tokenDecoded {
		flags |= flagTokenDecoded
	}
	secret, secretDecoded := decodeExact(string(g.Credentials.SecretAccessKey))
	if secretDecoded {
		flags |= flagSecretDecoded
	}
	reqID := []byte(g.STSRequestID)
	if u, ok := uuidBytes(g.STSRequestID); ok {
		reqID, flags = u[:], flags|flagRequestUUID
	}
	arn := g.AssumedRoleARN
	if arn != "" && arn == assumedRoleARN(g.RoleARN, g.SessionName) {
		arn, flags = "", flags|flagARNDerived
	}
	if g.Credentials.Expires.IsZero() {
		flags |= flagNoExpiry
	}
	if g.NotAfter.IsZero() {
		flags |= flagNoNotAfter
	}
	extras := g.Source != "" || g.AWSAccount != "" || g.PermissionSet != "" || g.Scope != nil
	if extras {
		flags |= flagExtras
	}
	parts := [...][]byte{[]byte(g.SessionName), []byte(g.Credentials.AccessKeyID), secret, token, reqID, []byte(arn)}
	n := blobHead
	for _, p := range parts {
		n += len(p)
	}
	if extras {
		n += 6 + len(g.Source) + len(g.AWSAccount) + len(g.PermissionSet)
	}
	b := make([]byte, blobHead, n)
	binary.LittleEndian.PutUint64(b[0:], uint64(unixNano(g.NotAfter)))
	binary.LittleEndian.PutUint64(b[8:], uint64(unixNano(g.Credentials.Expires)))
	for i, p := range parts {
		binary.LittleEndian.PutUint16(b[16+2*i:], uint16(len(p)))
	}
	b[blobHead-1] = flags
	for _, p := range parts {
		b = append(b, p...)
	}
	if extras {
		for _, s := range [...]string{g.Source, g.AWSAccount, g.PermissionSet} {
			b = binary.LittleEndian.AppendUint16(b, uint16(len(s)))
		}
		b = append(b, g.Source...)
		b = append(b, g.AWSAccount...)
		b = append(b, g.PermissionSet...)
		var digest string
		var actions []string
		if g.Scope != nil {
			digest, actions = g.Scope.PolicyDigest, g.Scope.Actions
		}
		b = binary.LittleEndian.AppendUint16(b, uint16(len(digest)))
		b = append(b, digest...)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(actions)))
		for _, a := range actions {
			b = binary.LittleEndian.AppendUint16(b, uint16(len(a)))
			b = append(b, a...)
		}
	}
	return compactGrant{roleARN: g.RoleARN, blob: unsafe.String(unsafe.SliceData(b), len(b))}
}

// notAfter is the grant's NotAfter, read without restoring the grant.
func (c compactGrant) notAfter() time.Time {
	if c.blob[blobHead-1]&flagNoNotAfter != 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(u64(c.blob, 0))).UTC()
}

// grant restores the Grant, marked Cached.
func (c compactGrant) grant() *Grant { return c.grantWith(c.restore()) }

// restored holds the values of a grant that are rebuilt rather than read
// from the blob: the base64 secret and session token, the UUID request ID
// and the derived assumed-role ARN. Rebuilding the ~1 KB token is most of
// the work of a cache hit, so the cache keeps the restored values of its
// recently used entries (cache.restored). They are a pure function of
// roleARN and blob, which they keep for that check, and they are strings:
// immutable, so one restored serves every hit of its entry.
type restored struct {
	roleARN, blob                 string
	secret, token, requestID, arn string
}

// of reports whether r was restored from c.
func (r *restored) of(c compactGrant) bool { return r.blob == c.blob && r.roleARN == c.roleARN }

// values returns the six stored values of the blob and the offset after
// them.
func (c compactGrant) values() (vals [6]string, off int) {
	s := c.blob
	off = blobHead
	for i := range vals {
		n := int(u16(s, 16+2*i))
		vals[i] = s[off : off+n]
		off += n
	}
	return vals, off
}

// restore rebuilds the values a grant does not keep as they are, in one
// buffer for the base64 and UUID forms.
func (c compactGrant) restore() *restored {
	flags := c.blob[blobHead-1]
	vals, _ := c.values()
	r := &restored{roleARN: c.roleARN, blob: c.blob, secret: vals[2], token: vals[3], requestID: vals[4], arn: vals[5]}
	size := 0
	if flags&flagSecretDecoded != 0 {
		size += base64.StdEncoding.EncodedLen(len(vals[2]))
	}
	if flags&flagTokenDecoded != 0 {
		size += base64.StdEncoding.EncodedLen(len(vals[3]))
	}
	if flags&flagRequestUUID != 0 {
		size += 36
	}
	if flags&flagARNDerived != 0 {
		r.arn = assumedRoleARN(c.roleARN, vals[0])
	}
	if size == 0 {
		return r
	}
	buf := make([]byte, size)
	out := unsafe.String(unsafe.SliceData(buf), size)
	at := 0
	encode := func(v string) string {
		n := base64.StdEncoding.EncodedLen(len(v))
		base64.StdEncoding.Encode(buf[at:at+n], unsafe.Slice(unsafe.StringData(v), len(v)))
		at += n
		return out[at-n : at]
	}
	if flags&flagSecretDecoded != 0 {
		r.secret = encode(vals[2])
	}
	if flags&flagTokenDecoded != 0 {
		r.token = encode(vals[3])
	}
	if flags&flagRequestUUID != 0 {
		u := buf[at : at+36]
		hex.Encode(u[0:8], []byte(vals[4][0:4]))
		hex.Encode(u[9:13], []byte(vals[4][4:6]))
		hex.Encode(u[14:18], []byte(vals[4][6:8]))
		hex.Encode(u[19:23], []byte(vals[4][8:10]))
		hex.Encode(u[24:36], []byte(vals[4][10:16]))
		u[8], u[13], u[18], u[23] = '-', '-', '-', '-'
		r.requestID = out[at : at+36]
	}
	return r
}

// grantWith restores the Grant, marked Cached, from the blob and r (which
// must be restored from c): one allocation, or two with a scope. The
// strings kept as they were point into the blob.
func (c compactGrant) grantWith(r *restored) *Grant {
	s := c.blob
	flags := s[blobHead-1]
	vals, off := c.values()
	g := &Grant{RoleARN: c.roleARN, SessionName: vals[0], AssumedRoleARN: r.arn, STSRequestID: r.requestID, Cached: true}
	g.Credentials.AccessKeyID = vals[1]
	g.Credentials.SecretAccessKey, g.Credentials.SessionToken = Secret(r.secret), Secret(r.token)
	if flags&flagNoNotAfter == 0 {
		g.NotAfter = time.Unix(0, int64(u64(s, 0))).UTC()
	}
	if flags&flagNoExpiry == 0 {
		g.Credentials.Expires = time.Unix(0, int64(u64(s, 8))).UTC()
	}
	if flags&flagExtras != 0 {
		var el [3]int
		for i := range el {
			el[i] = int(u16(s, off+2*i))
		}
		off += 6
		g.Source = s[off : off+el[0]]
		off += el[0]
		g.AWSAccount = s[off : off+el[1]]
		off += el[1]
		g.PermissionSet = s[off : off+el[2]]
		off += el[2]
		if n := int(u16(s, off)); n > 0 {
			sc := &GrantScope{PolicyDigest: s[off+2 : off+2+n]}
			off += 2 + n
			count := int(u16(s, off))
			off += 2
			if count > 0 {
				sc.Actions = make([]string, count)
			}
			for i := range count {
				l := int(u16(s, off))
				sc.Actions[i] = s[off+2 : off+2+l]
				off += 2 + l
			}
			g.Scope = sc
		}
	}
	return g
}

func u16(s string, i int) uint16 { return uint16(s[i]) | uint16(s[i+1])<<8 }

func u64(s string, i int) uint64 {
	var v uint64
	for j := 7; j >= 0; j-- {
		v = v<<8 | uint64(s[i+j])
	}
	return v
}

// decodeExact returns s base64-decoded when encoding the result gives s
// back exactly (STS's tokens and secret keys are standard base64).
func decodeExact(s string) ([]byte, bool) {
	if s == "" || len(s)%4 != 0 {
		return []byte(s), false
	}
	d, err := base64.StdEncoding.DecodeString(s)
	if err != nil || base64.StdEncoding.EncodeToString(d) != s {
		return []byte(s), false
	}
	return d, true
}

// uuidBytes parses a lower-case canonical UUID (what STS's RequestId is).
func uuidBytes(s string) ([16]byte, bool) {
	var u [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	h := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36]
	if strings.ToLower(h) != h {
		return u, false
	}
	if _, err := hex.Decode(u[:], []byte(h)); err != nil {
		return u, false
	}
	return u, true
}

// assumedRoleARN is the AssumedRoleUser.Arn STS returns for a role and a
// session name: arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE-NAME/SESSION,
// the role's path left out. It returns "" for a role ARN of another shape.
func assumedRoleARN(roleARN, session string) string {
	parts := strings.SplitN(roleARN, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || !strings.HasPrefix(parts[5], "role/") {
		return ""
	}
	name := parts[5][strings.LastIndexByte(parts[5], '/')+1:]
	return "arn:" + parts[1] + ":sts::" + parts[4] + ":assumed-role/" + name + "/" + session
}

// unixNano is t in Unix nanoseconds; the zero time is flagged, not stored.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
