package sts

import (
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// stsLike is a grant shaped like what STS returns for a web-identity
// session: a ~1 KB base64 session token, a 40-character secret key, a
// UUID request ID and the assumed-role ARN STS derives.
func stsLike() Grant {
	exp := time.Date(2026, 12, 2, 0, 35, 20, 0, time.UTC)
	return Grant{
		RoleARN: "arn:aws:iam::123456789012:role/S3ReadOnlyMCPRole", SessionName: "user000001@example.com",
		AssumedRoleARN: "arn:aws:sts::123456789012:assumed-role/S3ReadOnlyMCPRole/user000001@example.com",
		Credentials: Credentials{AccessKeyID: "ASIA0000000000000001", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKE",
			SessionToken: Secret("IQoJb3JpZ2luX2Vj" + strings.Repeat("Ab+/", 253) + "Zw=="), Expires: exp},
		STSRequestID: "c6104cbe-af31-11e0-8154-cbc7ccf896c7", NotAfter: exp.Add(-10 * time.Minute),
	}
}

func sameGrant(a, b *Grant) bool {
	return a.RoleARN == b.RoleARN && a.SessionName == b.SessionName && a.AssumedRoleARN == b.AssumedRoleARN &&
		a.Credentials.AccessKeyID == b.Credentials.AccessKeyID && a.Credentials.SecretAccessKey == b.Credentials.SecretAccessKey &&
		a.Credentials.SessionToken == b.Credentials.SessionToken && a.Credentials.Expires.Equal(b.Credentials.Expires) &&
		a.STSRequestID == b.STSRequestID && a.NotAfter.Equal(b.NotAfter) && a.Source == b.Source &&
		a.AWSAccount == b.AWSAccount && a.PermissionSet == b.PermissionSet && sameScope(a.Scope, b.Scope) &&
		a.Credentials.Expires.IsZero() == b.Credentials.Expires.IsZero() && a.NotAfter.IsZero() == b.NotAfter.IsZero()
}

func sameScope(a, b *GrantScope) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.PolicyDigest == b.PolicyDigest && slices.Equal(a.Actions, b.Actions)
}

// TestCompactGrantRoundTrip: caching never changes a grant, whichever of
// the compact forms apply, and the role ARN stays the configuration's.
func TestCompactGrantRoundTrip(t *testing.T) {
	mod := func(f func(*Grant)) Grant { g := stsLike(); f(&g); return g }
	tests := []struct {
		name  string
		g     Grant
		flags byte
	}{
		{"as STS returns it", stsLike(), flagTokenDecoded | flagSecretDecoded | flagRequestUUID | flagARNDerived},
		{"token not base64", mod(func(g *Grant) { g.Credentials.SessionToken = "not base64!" }), flagSecretDecoded | flagRequestUUID | flagARNDerived},
		{"token base64 but not canonical", mod(func(g *Grant) { g.Credentials.SessionToken = "QUJDRA=x" }), flagSecretDecoded | flagRequestUUID | flagARNDerived},
		{"upper-case request ID", mod(func(g *Grant) { g.STSRequestID = strings.ToUpper(g.STSRequestID) }), flagTokenDecoded | flagSecretDecoded | flagARNDerived},
		{"request ID not a UUID", mod(func(g *Grant) { g.STSRequestID = "req-1" }), flagTokenDecoded | flagSecretDecoded | flagARNDerived},
		{"role with a path", mod(func(g *Grant) {
			g.RoleARN = "arn:aws-cn:iam::123456789012:role/team/a/Reader"
			g.AssumedRoleARN = "arn:aws-cn:sts::123456789012:assumed-role/Reader/" + g.SessionName
		}), flagTokenDecoded | flagSecretDecoded | flagRequestUUID | flagARNDerived},
		{"assumed role ARN of another shape", mod(func(g *Grant) { g.AssumedRoleARN = "arn:aws:sts::1:assumed-role/X/y" }), flagTokenDecoded | flagSecretDecoded | flagRequestUUID},
		{"no assumed role ARN", mod(func(g *Grant) { g.AssumedRoleARN = "" }), flagTokenDecoded | flagSecretDecoded | flagRequestUUID},
		{"zero times", mod(func(g *Grant) { g.NotAfter, g.Credentials.Expires = time.Time{}, time.Time{} }),
			flagTokenDecoded | flagSecretDecoded | flagRequestUUID | flagARNDerived | flagNoExpiry | flagNoNotAfter},
		{"identity center fields", mod(func(g *Grant) {
			g.Source, g.AWSAccount, g.PermissionSet = "identity_center", "111122223333", "ReadOnly"
		}),
			flagTokenDecoded | flagSecretDecoded | flagRequestUUID | flagARNDerived | flagExtras},
		{"empty", Grant{RoleARN: "arn:aws:iam::123456789012:role/R"}, flagNoExpiry | flagNoNotAfter},
		// A per-request session keeps its scope, which its audit records
		// name (session_actions, session_policy_digest).
		{"scope-down session", mod(func(g *Grant) {
			g.Scope = &GrantScope{Actions: []string{"s3:ListAllMyBuckets"}, PolicyDigest: "ab12"}
		}), flagTokenDecoded | flagSecretDecoded | flagRequestUUID | flagARNDerived | flagExtras},
		{"scope-down session allowing nothing", mod(func(g *Grant) { g.Scope = &GrantScope{PolicyDigest: "cd34"} }),
			flagTokenDecoded | flagSecretDecoded | flagRequestUUID | flagARNDerived | flagExtras},
		{"scope-down session of identity center", mod(func(g *Grant) {
			g.Source, g.Scope = "identity_center", &GrantScope{Actions: []string{"ec2:DescribeInstances", "s3:ListBucket"}, PolicyDigest: "ef"}
		}), flagTokenDecoded | flagSecretDecoded | flagRequestUUID | flagARNDerived | flagExtras},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := compact(&tt.g)
			if f := c.blob[blobHead-1]; f != tt.flags {
				t.Errorf("flags %08b, want %08b", f, tt.flags)
			}
			got := c.grant()
			want := tt.g
			want.Cached = true
			if !sameGrant(got, &want) || !got.Cached {
				t.Fatalf("restored grant differs:\n got %+v %q %q\nwant %+v", got.LogValue(), got.STSRequestID, got.AssumedRoleARN, want.LogValue())
			}
			if !c.notAfter().Equal(tt.g.NotAfter) {
				t.Errorf("notAfter %v, want %v", c.notAfter(), tt.g.NotAfter)
			}
			if unsafe.StringData(got.RoleARN) != unsafe.StringData(tt.g.RoleARN) {
				t.Error("RoleARN copied; it should stay shared with the configuration")
			}
		})
	}
}

// TestCompactEntrySize pins what one cached user costs besides the map
// slot: an 80-byte entry and, for a grant as STS returns it with a ~1 KB
// token, a blob in the 896-byte size class. With the map's ~38 bytes per
// slot that is under 1 KiB (BenchmarkCacheMemory measures the whole).
func TestCompactEntrySize(t *testing.T) {
	if n := unsafe.Sizeof(entry{}); n > 80 {
		t.Errorf("entry is %d bytes, want at most 80", n)
	}
	g := stsLike()
	if n := len(compact(&g).blob); n > 896 {
		t.Errorf("blob of a grant with a %d-byte token is %d bytes, want at most 896", len(g.Credentials.SessionToken), n)
	}
}

func FuzzCompactGrant(f *testing.F) {
	g := stsLike()
	f.Add(string(g.Credentials.SessionToken), string(g.Credentials.SecretAccessKey), g.STSRequestID, g.AssumedRoleARN, g.RoleARN, int64(0))
	f.Add("", "", "", "", "", int64(-1))
	f.Fuzz(func(t *testing.T, token, secret, reqID, arn, role string, ns int64) {
		in := stsLike()
		in.Credentials.SessionToken, in.Credentials.SecretAccessKey, in.STSRequestID, in.AssumedRoleARN, in.RoleARN =
			Secret(token), Secret(secret), reqID, arn, role
		in.NotAfter = time.Unix(0, ns).UTC()
		if !compactable(&in) {
			return
		}
		got := compact(&in).grant()
		in.Cached = true
		if !sameGrant(got, &in) {
			t.Fatalf("round trip changed the grant: %q %q %q %q", got.Credentials.SessionToken, got.Credentials.SecretAccessKey, got.STSRequestID, got.AssumedRoleARN)
		}
	})
}
