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
  mcpguard authz check [--explain] --config FILE --claims FILE (--request FILE | --method GET|DELETE)
  mcpguard authz test [--coverage] [--schema-validation MODE] DIR
  mcpguard authz schema [--from-tools FILE]       (prints the Cedar schema)
  mcpguard envoy bootstrap --config FILE [flags]   (prints an Envoy bootstrap)
  mcpguard envoy validate FILE                    (checks an Envoy bootstrap)
  mcpguard tools approve --store FILE [--upstream U] --name TOOL --digest D
  mcpguard audit verify [--pubkey FILE [--checkpoints FILE]] FILE...
  mcpguard version

Exit codes: 0 success (authz check: allow; authz test: all pass; audit verify: intact), 1 deny
(authz check), a failing test (authz test) or broken chain (audit verify), 2 invalid input or
configuration.
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
		return runAuthz(ctx, args[1:], stdout, stderr)
	case "envoy":
		return runEnvoy(args[1:], stdout, stderr)
	case "tools":
		return runGroup("tools", "approve", args[1:], stdout, stderr, runToolsApprove)
	case "audit":
		return runGroup("audit", "verify", args[1:], stdout, stderr, runAuditVerify)
	case "version", "--version":
		if len(args) > 1 {
			if isHelp(args[1]) {
				fmt.Fprintln(stdout, "usage: mcpguard version")
				return exitOK
			}
			fmt.Fprintf(stderr, "mcpguard version: unexpected argument %q\nusage: mcpguard version\n", args[1])
			return exitInvalid
		}
		fmt.Fprintln(stdout, versionString())
		return exitOK
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "mcpguard: unknown command %q\n\n%s", args[0], usage)
		return exitInvalid
	}
}

// runGroup dispatches a command group with a single subcommand (tools
// approve, audit verify): help prints the group's usage to stdout, anything
// else but the subcommand is a usage error.
func runGroup(group, sub string, args []string, stdout, stderr io.Writer, fn func([]string, io.Writer, io.Writer) int) int {
	u := "usage: " + synopsis(group+" "+sub) + "\n"
	switch {
	case len(args) > 0 && args[0] == sub:
		return fn(args[1:], stdout, stderr)
	case len(args) > 0 && isHelp(args[0]):
		fmt.Fprint(stdout, u)
		return exitOK
	case len(args) > 0:
		fmt.Fprintf(stderr, "mcpguard %s: unknown command %q\n%s", group, args[0], u)
	default:
		fmt.Fprint(stderr, u)
	}
	return exitInvalid
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
