package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/gateway"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "path to the mcpguard YAML configuration (required)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	logFormat := fs.String("log-format", "json", "log format: json or text")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	logger, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		fmt.Fprintln(stderr, "mcpguard serve:", err)
		return exitInvalid
	}
	if *configPath == "" {
		fmt.Fprintln(stderr, "mcpguard serve: --config is required")
		return exitInvalid
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		printProblems(stderr, *configPath, err)
		return exitInvalid
	}
	g, err := gateway.New(ctx, cfg, gateway.Options{Logger: logger})
	if err != nil {
		logger.Error("cannot start", "error", err)
		return exitInvalid
	}

	// SIGHUP reloads the policies (a broken set keeps the last good one)
	// and reopens the audit log file, for rotation.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := g.Reload(); err != nil {
					logger.Error("policy reload on SIGHUP rejected; keeping the last good set", "error", err)
				}
				if err := g.ReopenAudit(); err != nil {
					logger.Error("audit log not reopened on SIGHUP; still writing to the previous file", "error", err)
				}
			}
		}
	}()

	if err := g.Run(ctx); err != nil {
		logger.Error("serve", "error", err)
		return 1
	}
	return exitOK
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("invalid --log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("invalid --log-format %q: use json or text", format)
}

// printProblems lists every configuration problem, one per line.
func printProblems(w io.Writer, path string, err error) {
	var p config.Problems
	if errors.As(err, &p) {
		fmt.Fprintf(w, "%s: %d problem(s):\n", path, len(p))
		for _, pr := range p {
			fmt.Fprintf(w, "  %s: %s\n", pr.Path, pr.Message)
		}
		return
	}
	fmt.Fprintf(w, "%s: %v\n", path, err)
}
