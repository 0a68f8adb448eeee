package gateway

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mcpguard/mcpguard/config"
)

func TestRedisPassword(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	if err := os.WriteFile(file, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MCPGUARD_TEST_REDIS_PW", "fromenv")
	tests := []struct {
		name    string
		cfg     config.Redis
		want    string
		wantErr bool
	}{
		{"none", config.Redis{}, "", false},
		{"file, newline trimmed", config.Redis{PasswordFile: file}, "s3cret", false},
		{"env", config.Redis{PasswordEnv: "MCPGUARD_TEST_REDIS_PW"}, "fromenv", false},
		{"missing file", config.Redis{PasswordFile: filepath.Join(dir, "nope")}, "", true},
		{"unset env", config.Redis{PasswordEnv: "MCPGUARD_TEST_REDIS_UNSET"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := redisPassword(tt.cfg)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
}

func TestRedisClientTLS(t *testing.T) {
	c, err := RedisClient(config.Redis{Address: "redis.internal:6380", TLS: config.RedisTLS{Enabled: true, ServerName: "cache.example"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if tc := c.Options().TLSConfig; tc == nil || tc.ServerName != "cache.example" {
		t.Fatalf("TLS config %+v", tc)
	}
	if _, err := RedisClient(config.Redis{Address: "x:1", TLS: config.RedisTLS{Enabled: true, CAFile: "/nonexistent"}}); err == nil {
		t.Fatal("missing CA bundle accepted")
	}
}
