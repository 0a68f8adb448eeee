package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/mcpguard/mcpguard/config"
)

// Process runs mcpguard as its own process (`mcpguard serve`) instead of
// in this one, for the load and soak runs that measure it: the fakes, the
// configuration and the Envoy stand-in are the stack's usual ones, only
// the gateway lives in a child process whose CPU, memory and metrics are
// its own.
type Process struct {
	// Binary is the mcpguard executable; empty builds cmd/mcpguard
	// (BuildMCPGuard) into a temporary folder.
	Binary string
	// Env are NAME=VALUE pairs added to the process's environment (for
	// example GOMEMLIMIT).
	Env []string
	// LogPath receives the process's stdout and stderr; empty means a
	// temporary file removed by Close.
	LogPath string
	// LogLevel is serve's --log-level; empty means warn.
	LogLevel string
	// ReadyTimeout bounds the wait for /readyz; zero means 30s.
	ReadyTimeout time.Duration
}

// proc is the running child.
type proc struct {
	cmd     *exec.Cmd
	log     *os.File
	logTemp bool
	runCfg  string
	binDir  string
	done    chan struct{}
	err     error
}

// BuildMCPGuard builds cmd/mcpguard into dir and returns the binary's path.
func BuildMCPGuard(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "mcpguard")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/mcpguard/mcpguard/cmd/mcpguard")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build mcpguard: %w\n%s", err, out)
	}
	return bin, nil
}

// checkProcess refuses the options a separate process cannot honour: they
// inject Go values into an in-process gateway or change the configuration
// in memory only.
func checkProcess(o Options) error {
	switch {
	case !o.Ephemeral:
		return errors.New("stack: Process needs Ephemeral")
	case o.Mutate != nil, o.Now != nil, o.AuditWriter != nil, o.Logger != nil:
		return errors.New("stack: Process cannot take Mutate, Now, AuditWriter or Logger: write them into the configuration file")
	case o.IdentityCenter, o.ResourceMetadata, o.GRPCTLS != nil:
		return errors.New("stack: Process does not support IdentityCenter, ResourceMetadata or GRPCTLS")
	}
	return nil
}

// startProcess writes the configuration the stack runs with (the file at
// ConfigPath with the fakes' and free loopback addresses) next to the
// original, so relative policy paths still resolve, starts `mcpguard
// serve` on it and waits until /readyz answers 200. It returns the gRPC
// address.
func (s *Stack) startProcess(ctx context.Context, o Options) (string, error) {
	if s.Config.HasProviders() {
		return "", errors.New("stack: Process does not support oidc_providers")
	}
	p := &proc{done: make(chan struct{})}
	s.proc = p
	grpcAddr, err := freeAddr()
	if err != nil {
		return "", err
	}
	adminAddr, err := freeAddr()
	if err != nil {
		return "", err
	}
	set := map[string]string{
		"server.grpc_listen":          grpcAddr,
		"server.admin_listen":         adminAddr,
		"server.drain_delay":          "0s",
		"oidc_config.issuer":          s.IdP.URL(),
		"aws_sts_config.sts_endpoint": s.STS.URL(),
	}
	if orig, err := config.Load(o.ConfigPath); err == nil && orig.OIDC.ResourceMetadata.Resource != "" {
		// As in-process Ephemeral stacks: the file's resource names
		// the fixed front address, not this stack's.
		set["oidc_config.resource_metadata.resource"] = ""
	}
	if p.runCfg, err = writeRunConfig(o.ConfigPath, set); err != nil {
		return "", err
	}
	// What the child will run with, as the child will read it.
	if s.Config, err = config.Load(p.runCfg); err != nil {
		return "", fmt.Errorf("load the written configuration: %w", err)
	}

	po := o.Process
	bin := po.Binary
	if bin == "" {
		if p.binDir, err = os.MkdirTemp("", "mcpguard-bin-"); err != nil {
			return "", err
		}
		if bin, err = BuildMCPGuard(ctx, p.binDir); err != nil {
			return "", err
		}
	}
	if po.LogPath == "" {
		p.log, err = os.CreateTemp("", "mcpguard-*.log")
		p.logTemp = true
	} else {
		p.log, err = os.Create(po.LogPath)
	}
	if err != nil {
		return "", err
	}
	level := po.LogLevel
	if level == "" {
		level = "warn"
	}
	p.cmd = exec.Command(bin, "serve", "--config", p.runCfg, "--log-level", level)
	p.cmd.Env = append(os.Environ(), po.Env...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	start := time.Now()
	if err := p.cmd.Start(); err != nil {
		return "", fmt.Errorf("start mcpguard: %w", err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	s.AdminURL = "http://" + adminAddr
	timeout := po.ReadyTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	if err := p.waitReady(ctx, s.AdminURL+"/readyz", timeout); err != nil {
		return "", err
	}
	s.Startup = time.Since(start)
	return grpcAddr, nil
}

// waitReady polls url until it answers 200, the process exits or timeout
// passes.
func (p *proc) waitReady(ctx context.Context, url string, timeout time.Duration) error {
	probe := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := probe.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("mcpguard exited: %v\n%s", p.err, p.tail(2000)) //nolint:errorlint // the error may be nil; the message is for a person
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mcpguard not ready after %s (%v)\n%s", timeout, err, p.tail(2000)) //nolint:errorlint // the error may be nil; the message is for a person
		}
	}
}

// StopChild stops a child process as SIGTERM would: it interrupts p and
// waits until done is closed (the child's Wait returned), killing p if it
// has not exited after grace.
func StopChild(p *os.Process, done <-chan struct{}, grace time.Duration) {
	_ = p.Signal(os.Interrupt) // the wait below is what matters
	select {
	case <-done:
	case <-time.After(grace):
		_ = p.Kill()
		<-done
	}
}

// stop interrupts the process and waits for it, then removes its files.
func (p *proc) stop() {
	if p.cmd != nil && p.cmd.Process != nil {
		StopChild(p.cmd.Process, p.done, 20*time.Second)
	}
	if p.log != nil {
		p.log.Close()
		if p.logTemp {
			os.Remove(p.log.Name())
		}
	}
	if p.runCfg != "" {
		os.Remove(p.runCfg)
	}
	if p.binDir != "" {
		os.RemoveAll(p.binDir)
	}
}

func (p *proc) tail(n int) string {
	if p == nil || p.log == nil {
		return ""
	}
	b, _ := os.ReadFile(p.log.Name())
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// PID is the mcpguard process's id with Options.Process, else 0.
func (s *Stack) PID() int {
	if s.proc == nil || s.proc.cmd == nil || s.proc.cmd.Process == nil {
		return 0
	}
	return s.proc.cmd.Process.Pid
}

// ConfigFile is the configuration file the mcpguard process runs with
// (Options.Process), removed by Close.
func (s *Stack) ConfigFile() string {
	if s.proc == nil {
		return ""
	}
	return s.proc.runCfg
}

// ProcessLog is the last n bytes of the mcpguard process's log, for
// failure reports.
func (s *Stack) ProcessLog(n int) string { return s.proc.tail(n) }

// Post sends an MCP JSON-RPC message to MCPURL with token as the bearer
// token and the headers an MCP client sends with it.
func (s *Stack) Post(ctx context.Context, token, body string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.MCPURL(), strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	return HTTPClient(token).Do(req)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// writeRunConfig copies the YAML file at path into a new file beside it
// with the scalar at each dotted key of set replaced (or added), and
// returns the new file's path. Comments and every other key are kept.
func writeRunConfig(path string, set map[string]string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return "", fmt.Errorf("parse %s: %w", path, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return "", fmt.Errorf("%s: not a YAML mapping", path)
	}
	for key, value := range set {
		if err := setScalar(doc.Content[0], strings.Split(key, "."), value); err != nil {
			return "", fmt.Errorf("%s: %s: %w", path, key, err)
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return "", fmt.Errorf("encode %s: %w", path, err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".stack-*.yaml")
	if err != nil {
		return "", err
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// setScalar sets m[keys[0]]...[keys[n-1]] to value, adding the mappings
// on the way that are missing.
func setScalar(m *yaml.Node, keys []string, value string) error {
	for i, k := range keys {
		var next *yaml.Node
		for j := 0; j+1 < len(m.Content); j += 2 {
			if m.Content[j].Value == k {
				next = m.Content[j+1]
				break
			}
		}
		last := i == len(keys)-1
		if next == nil {
			next = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			if last {
				next = &yaml.Node{Kind: yaml.ScalarNode}
			}
			m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, next)
		}
		if last {
			if next.Kind != yaml.ScalarNode {
				return errors.New("not a scalar")
			}
			next.Tag, next.Value, next.Style = "!!str", value, 0
			return nil
		}
		if next.Kind != yaml.MappingNode {
			return errors.New("not a mapping")
		}
		m = next
	}
	return nil
}
