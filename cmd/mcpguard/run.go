package main

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// Exit codes shared by every subcommand.
const (
	exitOK      = 0
	exitDeny    = 1 // authz check: the request is denied
	exitInvalid = 2 // invalid input or configuration
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `mcpguard: an Envoy ext_proc security gateway for MCP servers on AWS

Usage:
  mcpguard serve    --config FILE [--log-level LEVEL] [--log-format json|text]
  mcpguard validate --config FILE
  mcpguard authz check --config FILE --claims FILE (--request FILE | --method GET|DELETE)
  mcpguard envoy bootstrap --config FILE [flags]   (prints an Envoy bootstrap)
  mcpguard envoy validate FILE                    (checks an Envoy bootstrap)
  mcpguard tools approve --store FILE [--upstream U] --name TOOL --digest D
  mcpguard audit verify [--pubkey FILE [--checkpoints FILE]] FILE...
  mcpguard version

Exit codes: 0 success (authz check: allow; audit verify: intact), 1 deny (authz check) or
broken chain (audit verify), 2 invalid input or configuration.
`

// run executes one subcommand and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitInvalid
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr)
	case "validate":
		return runValidate(args[1:], stdout, stderr)
	case "authz":
		if len(args) < 2 || args[1] != "check" {
			fmt.Fprint(stderr, "usage: mcpguard authz check --config FILE --claims FILE (--request FILE | --method GET|DELETE)\n")
			return exitInvalid
		}
		return runAuthzCheck(ctx, args[2:], stdout, stderr)
	case "envoy":
		return runEnvoy(args[1:], stdout, stderr)
	case "tools":
		if len(args) < 2 || args[1] != "approve" {
			fmt.Fprint(stderr, "usage: mcpguard tools approve --store FILE [--upstream U] --name TOOL --digest D\n")
			return exitInvalid
		}
		return runToolsApprove(args[2:], stdout, stderr)
	case "audit":
		if len(args) < 2 || args[1] != "verify" {
			fmt.Fprint(stderr, "usage: mcpguard audit verify [--pubkey FILE [--checkpoints FILE]] FILE...\n")
			return exitInvalid
		}
		return runAuditVerify(args[2:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, versionString())
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "mcpguard: unknown command %q\n\n%s", args[0], usage)
		return exitInvalid
	}
}

func versionString() string {
	v := version
	var parts []string
	if bi, ok := debug.ReadBuildInfo(); ok {
		parts = append(parts, bi.GoVersion)
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				parts = append(parts, "rev "+s.Value[:12])
			}
		}
	}
	if len(parts) > 0 {
		v += " (" + strings.Join(parts, ", ") + ")"
	}
	return "mcpguard " + v
}
