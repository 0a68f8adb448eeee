package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/mcpguard/mcpguard/mcp"
)

const toolsApproveUsage = "usage: mcpguard tools approve --store FILE (--name TOOL [--digest DIGEST] | --all)\n"

// runToolsApprove approves changed tool definitions that tool pinning
// recorded, so a tool that enforce mode removed becomes listed and callable
// again. Naming the digest approves exactly the definition the operator
// reviewed, not one that changed again since.
func runToolsApprove(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("tools approve", flag.ContinueOnError)
	flags.SetOutput(stderr)
	storePath := flags.String("store", "", "path to the tool_pinning store file (required)")
	name := flags.String("name", "", "the tool whose pending definition to approve")
	digest := flags.String("digest", "", "the pending digest to approve (optional with --name; must match)")
	all := flags.Bool("all", false, "approve every pending definition")
	if err := flags.Parse(args); err != nil {
		return exitInvalid
	}
	switch {
	case flags.NArg() > 0:
		fmt.Fprintf(stderr, "mcpguard tools approve: unexpected argument %q\n%s", flags.Arg(0), toolsApproveUsage)
		return exitInvalid
	case *storePath == "":
		fmt.Fprint(stderr, "mcpguard tools approve: --store is required\n"+toolsApproveUsage)
		return exitInvalid
	case *all && (*name != "" || *digest != ""):
		fmt.Fprint(stderr, "mcpguard tools approve: --all cannot be combined with --name or --digest\n"+toolsApproveUsage)
		return exitInvalid
	case *digest != "" && *name == "":
		fmt.Fprint(stderr, "mcpguard tools approve: --digest needs --name\n"+toolsApproveUsage)
		return exitInvalid
	}
	if _, err := os.Stat(*storePath); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(stderr, "mcpguard tools approve: store %s does not exist (no tool has been recorded yet)\n", *storePath)
		} else {
			fmt.Fprintln(stderr, "mcpguard tools approve:", err)
		}
		return exitInvalid
	}
	store, err := mcp.OpenPinStore(*storePath, nil)
	if err != nil {
		fmt.Fprintln(stderr, "mcpguard tools approve:", err)
		return exitInvalid
	}

	if !*all && *name == "" {
		pending := store.Pending()
		if len(pending) == 0 {
			fmt.Fprintln(stderr, "mcpguard tools approve: no pending tool definitions; nothing to approve")
		} else {
			fmt.Fprintln(stderr, "mcpguard tools approve: give --name TOOL or --all; pending tool definitions:")
			printPending(stderr, pending)
		}
		fmt.Fprint(stderr, toolsApproveUsage)
		return exitInvalid
	}

	if *all {
		done, err := store.ApproveAll()
		if err != nil {
			fmt.Fprintln(stderr, "mcpguard tools approve:", err)
			return exitInvalid
		}
		if len(done) == 0 {
			fmt.Fprintln(stdout, "no pending tool definitions; nothing approved")
			return exitOK
		}
		for _, c := range done {
			fmt.Fprintf(stdout, "approved %s %s (was %s)\n", c.Name, c.Pending, c.Approved)
		}
		return exitOK
	}

	c, err := store.Approve(*name, *digest)
	if err != nil {
		fmt.Fprintln(stderr, "mcpguard tools approve:", err)
		if pending := store.Pending(); len(pending) > 0 {
			fmt.Fprintln(stderr, "pending tool definitions:")
			printPending(stderr, pending)
		}
		return exitInvalid
	}
	fmt.Fprintf(stdout, "approved %s %s (was %s)\n", c.Name, c.Pending, c.Approved)
	return exitOK
}

func printPending(w io.Writer, pending []mcp.PinChange) {
	for _, c := range pending {
		fmt.Fprintf(w, "  %s  %s (approved %s, seen since %s)\n", c.Name, c.Pending, c.Approved, c.Since.Format("2006-01-02T15:04:05Z07:00"))
	}
}
