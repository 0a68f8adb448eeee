package toolpin

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/mcpguard/mcpguard/mcp"
)

// Canonical returns the canonical JSON form of a tool definition: the
// whole object with every member, keys sorted at every depth, no
// insignificant whitespace, strings escaped as encoding/json does (without
// HTML escaping), numbers exactly as written. Re-ordering keys or
// re-indenting does not change it; any change of content, even of a
// number's spelling (10 and 10.0), does. raw must be strict JSON (as
// mcp.Parse defines it: no duplicate names, valid UTF-8) and an object
// with a non-empty string name.
func Canonical(raw json.RawMessage) ([]byte, error) {
	v, err := mcp.DecodeValue(raw)
	if err != nil {
		return nil, fmt.Errorf("canonicalize tool: %w", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("canonicalize tool: definition is not an object")
	}
	if name, ok := obj["name"].(string); !ok || name == "" {
		return nil, errors.New("canonicalize tool: name is missing or not a string")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil {
		return nil, fmt.Errorf("canonicalize tool: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// digestOf is "sha256:" and the lowercase hex SHA-256 of canonical bytes.
func digestOf(canonical []byte) string {
	sum := sha256.Sum256(canonical)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Digest fingerprints a whole tool definition: "sha256:" and the hex
// SHA-256 of its Canonical form.
func Digest(raw json.RawMessage) (string, error) {
	c, err := Canonical(raw)
	if err != nil {
		return "", err
	}
	return digestOf(c), nil
}

// ValidDigest accepts what Digest produces, so a digest typed by an
// operator is checked before it is compared.
func ValidDigest(d string) bool {
	hexPart, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hexPart) != 2*sha256.Size {
		return false
	}
	_, err := hex.DecodeString(hexPart)
	return err == nil && strings.ToLower(hexPart) == hexPart
}
