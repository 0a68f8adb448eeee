package sts

import (
	"testing"
	"time"
	"unsafe"
)

func TestPackedGrant(t *testing.T) {
	exp := time.Unix(1767229200, 0)
	tests := []struct {
		name string
		g    Grant
	}{
		{"full", Grant{
			RoleARN: "arn:aws:iam::123456789012:role/R", SessionName: "alice@example.com",
			AssumedRoleARN: "arn:aws:sts::123456789012:assumed-role/R/alice@example.com",
			Credentials:    Credentials{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "secret", SessionToken: "token", Expires: exp},
			STSRequestID:   "req-1", NotAfter: exp, Cached: true,
		}},
		{"empty strings", Grant{RoleARN: "arn:aws:iam::123456789012:role/R", NotAfter: exp}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.g.packed()
			if *p != tc.g {
				t.Fatalf("packed grant differs:\n got %+v\nwant %+v", p.LogValue(), tc.g.LogValue())
			}
			if p == &tc.g {
				t.Fatal("packed returned the original")
			}
			if tc.g.Credentials.SessionToken == "" {
				return
			}
			// Every per-user string lies in one allocation, in order.
			base := uintptr(unsafe.Pointer(unsafe.StringData(p.SessionName)))
			end := uintptr(unsafe.Pointer(unsafe.StringData(string(p.Credentials.SessionToken)))) + uintptr(len(p.Credentials.SessionToken))
			total := len(p.SessionName) + len(p.AssumedRoleARN) + len(p.STSRequestID) + len(p.Credentials.AccessKeyID) +
				len(p.Credentials.SecretAccessKey) + len(p.Credentials.SessionToken)
			if int(end-base) != total {
				t.Errorf("strings span %d bytes, want %d in one block", end-base, total)
			}
			if unsafe.StringData(p.RoleARN) != unsafe.StringData(tc.g.RoleARN) {
				t.Error("RoleARN copied; it should stay shared with the configuration")
			}
		})
	}
}
