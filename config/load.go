package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// maxSessionPolicyFile bounds a session policy file read at load time. STS
// accepts 2048 characters; the slack allows for indentation.
const maxSessionPolicyFile = 64 << 10

// Load reads the configuration file at path, decodes it strictly, applies
// defaults, resolves relative file paths against the file's folder and
// validates the result. Problems in the content come back as Problems, all of
// them at once; a file that cannot be read comes back as a wrapped fs error.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("resolve config folder: %w", err)
	}
	return Parse(data, dir)
}

// Parse is Load for a configuration already in memory. Relative paths in it
// are resolved against dir (the current directory when dir is empty). It
// returns either a valid Config or Problems, never both.
func Parse(data []byte, dir string) (*Config, error) {
	c := Default()
	ps, lines := decodeYAML(data, c)
	c.fillDerived()
	c.resolvePaths(dir)
	c.loadSessionPolicies(dir, &ps)
	for _, p := range c.validate() {
		if !ps.covers(p.Path) {
			ps = append(ps, p)
		}
	}
	if len(ps) > 0 {
		ps.sortByLine(lines)
		return nil, ps
	}
	return c, nil
}

// resolvePaths makes every file path relative to dir.
func (c *Config) resolvePaths(dir string) {
	c.ToolPinning.Store = resolve(dir, c.ToolPinning.Store)
	c.resolveProtocolPaths(dir)
	c.Audit.Checkpoints.KeyFile = resolve(dir, c.Audit.Checkpoints.KeyFile)
	c.Audit.Checkpoints.File = resolve(dir, c.Audit.Checkpoints.File)
	t := &c.Server.GRPCTLS
	t.CertFile, t.KeyFile, t.ClientCAFile = resolve(dir, t.CertFile), resolve(dir, t.KeyFile), resolve(dir, t.ClientCAFile)
	if c.Audit.Output != "" && c.Audit.Output != "stdout" {
		c.Audit.Output = resolve(dir, c.Audit.Output)
	}
	if c.Authz == nil {
		return
	}
	for i, p := range c.Authz.PolicyFiles {
		c.Authz.PolicyFiles[i] = resolve(dir, p)
	}
	c.Authz.EntitiesFile = resolve(dir, c.Authz.EntitiesFile)
	c.Authz.SchemaFile = resolve(dir, c.Authz.SchemaFile)
	for i, p := range c.Authz.ShadowPolicyFiles {
		c.Authz.ShadowPolicyFiles[i] = resolve(dir, p)
	}
}

func resolve(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// loadSessionPolicies replaces each session_policy that names a file with the
// file's content, so that a missing or unreadable file fails at startup
// rather than on a user's first request. Valid JSON is compacted, because the
// STS size limit counts whitespace.
func (c *Config) loadSessionPolicies(dir string, ps *Problems) {
	loadMappingPolicies(dir, "aws_sts_config.role_mappings", c.STS.RoleMappings, ps)
	for i := range c.OIDCProviders {
		loadMappingPolicies(dir, index("oidc_providers", i)+".role_mappings", c.OIDCProviders[i].RoleMappings, ps)
	}
}

// loadMappingPolicies reads the session_policy files of the mappings at
// path and compacts every policy.
func loadMappingPolicies(dir, path string, ms []RoleMapping, ps *Problems) {
	for i := range ms {
		m := &ms[i]
		raw := strings.TrimSpace(m.SessionPolicy)
		if raw == "" {
			m.SessionPolicy = ""
			continue
		}
		p := index(path, i) + ".session_policy"
		if strings.HasPrefix(raw, "[") || strings.HasPrefix(raw, `"`) {
			ps.add(p, "must be a JSON object (an IAM policy document) or the path of a file holding one")
			m.SessionPolicy = ""
			continue
		}
		if !strings.HasPrefix(raw, "{") {
			file := resolve(dir, raw)
			content, err := readSmall(file, maxSessionPolicyFile)
			if err != nil {
				ps.add(p, "%s", describeReadError(raw, err))
				m.SessionPolicy = ""
				continue
			}
			m.SessionPolicyFile = file
			raw = strings.TrimSpace(string(content))
		}
		var buf bytes.Buffer
		if json.Compact(&buf, []byte(raw)) == nil {
			raw = buf.String()
		}
		m.SessionPolicy = raw
	}
}

// readSmall reads a file of at most limit bytes.
func readSmall(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errNotRegular
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, errTooLarge
	}
	return data, nil
}

var (
	errNotRegular = errors.New("not a regular file")
	errTooLarge   = errors.New("too large")
)

// describeReadError explains a failed read using the name as written in the
// file, so messages do not depend on where the configuration lives.
func describeReadError(name string, err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("file %q does not exist (a value not starting with \"{\" is read as a file path)", name)
	case errors.Is(err, errNotRegular):
		return fmt.Sprintf("%q is not a regular file", name)
	case errors.Is(err, errTooLarge):
		return fmt.Sprintf("file %q is larger than %d bytes", name, maxSessionPolicyFile)
	}
	return fmt.Sprintf("file %q cannot be read", name)
}
