package authn

import (
	"crypto/sha256"
	"strconv"
	"strings"
	"testing"
)

func TestTokenDigest(t *testing.T) {
	for _, n := range []int{0, 1, 2047, 2048, 2049, 40000} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			raw := strings.Repeat("a.b", n/3+1)[:n]
			if got, want := tokenDigest(raw), sha256.Sum256([]byte(raw)); got != want {
				t.Errorf("tokenDigest(%d bytes) differs from sha256.Sum256", n)
			}
		})
	}
}
