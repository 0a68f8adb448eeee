package gateway

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpguard/mcpguard/config"
)

func TestSharedCacheKey(t *testing.T) {
	dir := t.TempDir()
	good := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))
	short := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 31)))
	write := func(name, v string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("MCPGUARD_TEST_STS_KEY", good)
	cases := []struct {
		name    string
		sc      config.SharedCache
		wantErr string
	}{
		{"file with newline", config.SharedCache{KeyFile: write("good", good+"\n")}, ""},
		{"env", config.SharedCache{KeyEnv: "MCPGUARD_TEST_STS_KEY"}, ""},
		{"env unset", config.SharedCache{KeyEnv: "MCPGUARD_TEST_STS_KEY_UNSET"}, "is not set"},
		{"missing file", config.SharedCache{KeyFile: filepath.Join(dir, "none")}, "key_file"},
		{"not base64", config.SharedCache{KeyFile: write("bad", "secret-value!")}, "not standard base64"},
		{"short", config.SharedCache{KeyFile: write("short", short)}, "31 bytes"},
		{"none", config.SharedCache{}, "required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, err := sharedCacheKey(c.sc)
			if c.wantErr == "" {
				if err != nil || len(k) != 32 {
					t.Fatalf("key %d bytes, err %v", len(k), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("err %v, want %q", err, c.wantErr)
			}
			if strings.Contains(err.Error(), "secret-value") {
				t.Fatal("the key reached the error")
			}
		})
	}
}
