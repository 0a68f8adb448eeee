package gateway

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"

	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/extproc"
)

// protocolOptions maps mcp_protocol onto extproc's options, reading the
// session binding secrets. The secrets never reach a log line.
func protocolOptions(cfg *config.Config, log *slog.Logger) (extproc.Protocol, error) {
	p := cfg.Protocol
	o := extproc.Protocol{
		Versions:       p.SupportedVersions,
		AllowedOrigins: p.AllowedOrigins,
		Denial:         extproc.DenialMode(p.DenialResponse),
	}
	sb := p.SessionBinding
	if sb.SecretFile == "" {
		log.Warn("mcp_protocol.session_binding.secret_file is not set: session ids are sealed with a key of this process; " +
			"sessions end on restart and do not work across replicas")
		o.Sessions = extproc.RandomSessionKeys()
		return o, nil
	}
	current, err := readSecret(sb.SecretFile)
	if err != nil {
		return o, fmt.Errorf("read mcp_protocol.session_binding.secret_file: %w", err)
	}
	var previous []byte
	if sb.PreviousSecretFile != "" {
		if previous, err = readSecret(sb.PreviousSecretFile); err != nil {
			return o, fmt.Errorf("read mcp_protocol.session_binding.previous_secret_file: %w", err)
		}
	}
	if o.Sessions, err = extproc.NewSessionKeys(current, previous); err != nil {
		return o, fmt.Errorf("mcp_protocol.session_binding: %w", err)
	}
	return o, nil
}

// readSecret reads a secret file, trimming the line end an editor adds.
func readSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return bytes.TrimSpace(b), nil
}
