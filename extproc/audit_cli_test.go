package extproc

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestCLICacheMatchesParse: a cached reading of a cli_command is the one
// parsing it gives, parse errors included, and equal commands share it.
func TestCLICacheMatchesParse(t *testing.T) {
	c := newCLICache()
	for _, cmd := range []string{
		"aws s3 ls",
		"aws s3 ls s3://bucket --region eu-west-1",
		"aws s3 cp ./a s3://b/c --region us-east-1 --quiet",
		"aws ec2 describe-instances --region us-west-2 --output json",
		"aws s3 ls; rm -rf /",
		"ls -la",
		"",
		"aws s3 ls --no-such-option",
	} {
		first := c.reading(cmd)
		if want := readCLI(cmd); !reflect.DeepEqual(first, want) {
			t.Errorf("%q: cached reading %+v, parsing gives %+v", cmd, first, want)
		}
		if again := c.reading(cmd); again != first {
			t.Errorf("%q: parsed again instead of reusing the reading", cmd)
		}
	}
}

// TestCLICacheBounds: the cache holds at most cliCacheEntries commands and
// cliCacheKeyBytes of them, and does not keep a command longer than
// cliCacheMaxKey.
func TestCLICacheBounds(t *testing.T) {
	c := newCLICache()
	for i := range cliCacheEntries + 50 {
		c.reading("aws s3 ls s3://bucket-" + strconv.Itoa(i))
	}
	if n := len(c.m); n != cliCacheEntries {
		t.Errorf("%d entries, want the bound %d", n, cliCacheEntries)
	}
	sum := 0
	for k := range c.m {
		sum += len(k)
	}
	if sum != c.keyBytes {
		t.Errorf("keyBytes %d, the keys hold %d", c.keyBytes, sum)
	}

	big := newCLICache()
	pad := strings.Repeat("x", cliCacheMaxKey/2)
	for i := range 2 * cliCacheKeyBytes / len(pad) {
		big.reading("aws s3 ls s3://" + strconv.Itoa(i) + pad)
	}
	if big.keyBytes > cliCacheKeyBytes {
		t.Errorf("%d bytes of keys, over the bound %d", big.keyBytes, cliCacheKeyBytes)
	}

	long := "aws s3 ls s3://" + strings.Repeat("y", cliCacheMaxKey)
	c.reading(long)
	if _, ok := c.get(long); ok {
		t.Error("a command longer than cliCacheMaxKey was cached")
	}
}
