package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/mcpguard/mcpguard/authz"
	"github.com/mcpguard/mcpguard/config"
)

// serverInfoFlags collects --server-info [UPSTREAM=]FILE values.
type serverInfoFlags []string

func (s *serverInfoFlags) String() string     { return strings.Join(*s, ",") }
func (s *serverInfoFlags) Set(v string) error { *s = append(*s, v); return nil }

// maxServerInfo bounds a saved server answer: an initialize result is a
// few hundred bytes.
const maxServerInfo = 1 << 20

// serverCapabilities reads the capability names of a saved initialize or
// server/discover answer: the JSON-RPC response, its result object, or the
// response as the SSE event curl prints ("event: message" / "data: {...}").
func serverCapabilities(b []byte) ([]string, error) {
	b = bytes.TrimSpace(b)
	if bytes.HasPrefix(b, []byte("event:")) || bytes.HasPrefix(b, []byte("data:")) || bytes.HasPrefix(b, []byte("id:")) {
		var data [][]byte
		for line := range bytes.SplitSeq(b, []byte("\n")) {
			line = bytes.TrimRight(line, "\r")
			if d, ok := bytes.CutPrefix(line, []byte("data:")); ok {
				data = append(data, bytes.TrimPrefix(d, []byte(" ")))
			}
		}
		b = bytes.Join(data, []byte("\n"))
	}
	var doc struct {
		Result       json.RawMessage `json:"result"`
		Capabilities json.RawMessage `json:"capabilities"`
		Error        json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parse server answer: %w", err)
	}
	if len(doc.Error) > 0 {
		return nil, errors.New("parse server answer: it is a JSON-RPC error, not a result")
	}
	caps := doc.Capabilities
	if len(doc.Result) > 0 {
		var r struct {
			Capabilities json.RawMessage `json:"capabilities"`
		}
		if err := json.Unmarshal(doc.Result, &r); err != nil {
			return nil, fmt.Errorf("parse server answer: result: %w", err)
		}
		caps = r.Capabilities
	}
	var m map[string]json.RawMessage
	if len(caps) == 0 || json.Unmarshal(caps, &m) != nil || m == nil {
		return nil, errors.New("parse server answer: no capabilities object (save the result of initialize or server/discover)")
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

// advertised is what one upstream advertises and where that was learned.
type advertised struct {
	label string            // how warnings name the upstream
	from  map[string]string // capability → "config" or the file it came from
}

// capabilityWarnings warns, per upstream, about each method of an
// advertised capability that no policy permits.
func capabilityWarnings(cfg *config.Config, infos []string) ([]string, error) {
	ups := map[string]*advertised{"": {label: "upstream " + cfg.Upstream.Host, from: map[string]string{}}}
	order := []string{""}
	for _, c := range cfg.Upstream.Capabilities {
		ups[""].from[c] = "upstream.capabilities"
	}
	for i, u := range cfg.Upstreams {
		a := &advertised{label: fmt.Sprintf("upstream %q (%s)", u.Name, u.Host), from: map[string]string{}}
		for _, c := range u.Capabilities {
			a.from[c] = fmt.Sprintf("upstreams[%d].capabilities", i)
		}
		ups[u.Name] = a
		order = append(order, u.Name)
	}
	for _, v := range infos {
		name, file := "", v
		if n, f, ok := strings.Cut(v, "="); ok {
			name, file = n, f
		}
		a := ups[name]
		if a == nil {
			return nil, fmt.Errorf("--server-info %s: no upstream named %q in the configuration", v, name)
		}
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("--server-info: %w", err)
		}
		b, err := readAllLimited(f, maxServerInfo)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("--server-info %s: %w", file, err)
		}
		caps, err := serverCapabilities(b)
		if err != nil {
			return nil, fmt.Errorf("--server-info %s: %w", file, err)
		}
		for _, c := range caps {
			if _, ok := a.from[c]; !ok {
				a.from[c] = file
			}
		}
	}
	if cfg.Authz == nil {
		return nil, nil // validate already says every request is denied
	}
	opts, err := authzOptions(cfg)
	if err != nil {
		return nil, err
	}
	var w []string
	for _, name := range order {
		a := ups[name]
		caps := make([]string, 0, len(a.from))
		for c := range a.from {
			caps = append(caps, c)
		}
		sort.Strings(caps)
		for _, c := range caps {
			methods := config.CapabilityMethods(c)
			if len(methods) == 0 {
				continue // experimental and other capabilities bring no requests mcpguard knows
			}
			missing, err := authz.Unpermitted(opts, methods)
			if err != nil {
				return nil, fmt.Errorf("policies: %w", err)
			}
			if len(missing) == 0 {
				continue
			}
			quoted := make([]string, len(missing))
			for i, m := range missing {
				quoted[i] = fmt.Sprintf("%q", m)
			}
			w = append(w, fmt.Sprintf("%s advertises %q (%s), but no policy permits %s: clients that use it (the MCP Inspector, for one, calls what a server advertises right after connecting) will be refused; permit %s in a baseline policy, or stop advertising %q",
				a.label, c, a.from[c], strings.Join(quoted, ", "), strings.Join(quoted, ", "), c))
		}
	}
	return slices.Clip(w), nil
}

func readAllLimited(f *os.File, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return buf.Bytes(), nil
}
