package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/mcpguard/mcpguard/toolpin"
)

const toolsApproveUsage = "usage: mcpguard tools approve --store FILE [--upstream UPSTREAM] --name TOOL --digest sha256:HEX\n"

// runToolsApprove approves a changed tool definition that tool pinning
// recorded, so a tool that enforce mode removed becomes listed and callable
// again. It shows the difference between the pinned and the pending
// definition and approves only the digest the operator names: a definition
// that changed again after it was reviewed is refused. Without --name it
// lists the pending changes; without --digest it shows the change and the
// digest to approve.
func runToolsApprove(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("tools approve", flag.ContinueOnError)
	flags.SetOutput(stderr)
	storePath := flags.String("store", "", "path to the tool_pinning store file (required)")
	upstream := flags.String("upstream", "", "the upstream the tool belongs to (host, or host and path); needed when several have the tool pending")
	name := flags.String("name", "", "the tool whose pending definition to approve")
	digest := flags.String("digest", "", "the pending digest to approve, as shown (required to approve)")
	if code, ok := parseFlags(flags, args, stdout, stderr); !ok {
		return code
	}
	switch {
	case flags.NArg() > 0:
		fmt.Fprintf(stderr, "mcpguard tools approve: unexpected argument %q\n%s", flags.Arg(0), toolsApproveUsage)
		return exitInvalid
	case *storePath == "":
		fmt.Fprint(stderr, "mcpguard tools approve: --store is required\n"+toolsApproveUsage)
		return exitInvalid
	case *digest != "" && *name == "":
		fmt.Fprint(stderr, "mcpguard tools approve: --digest needs --name\n"+toolsApproveUsage)
		return exitInvalid
	case *digest != "" && !toolpin.ValidDigest(*digest):
		fmt.Fprintf(stderr, "mcpguard tools approve: --digest %q is not a digest (sha256: and 64 lowercase hex digits)\n", *digest)
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
	store, err := toolpin.OpenStore(*storePath, nil)
	if err != nil {
		fmt.Fprintln(stderr, "mcpguard tools approve:", err)
		return exitInvalid
	}

	if *name == "" {
		pending := store.Pending()
		if len(pending) == 0 {
			fmt.Fprintln(stderr, "mcpguard tools approve: no pending tool definitions; nothing to approve")
		} else {
			fmt.Fprintln(stderr, "mcpguard tools approve: give --name TOOL; pending tool definitions:")
			printPending(stderr, pending)
		}
		fmt.Fprint(stderr, toolsApproveUsage)
		return exitInvalid
	}

	e, err := store.PendingFor(*upstream, *name)
	if err != nil {
		fmt.Fprintln(stderr, "mcpguard tools approve:", err)
		if pending := store.Pending(); len(pending) > 0 {
			fmt.Fprintln(stderr, "pending tool definitions:")
			printPending(stderr, pending)
		}
		return exitInvalid
	}
	printChange(stdout, e)
	if *digest == "" {
		fmt.Fprintf(stderr, "mcpguard tools approve: review the change above, then approve exactly this definition with\n"+
			"  mcpguard tools approve --store %s --upstream %s --name %s --digest %s\n", *storePath, e.Upstream, e.Tool, e.Pending.Digest)
		return exitInvalid
	}
	done, err := store.Approve(e.Upstream, e.Tool, *digest)
	if err != nil {
		fmt.Fprintln(stderr, "mcpguard tools approve:", err)
		if errors.Is(err, toolpin.ErrDigestMismatch) {
			fmt.Fprintln(stderr, "the definition is not the one named (it may have changed since it was reviewed); nothing approved. The pending definition now:")
			if now, err := store.PendingFor(e.Upstream, e.Tool); err == nil {
				printChange(stderr, now)
			}
		}
		return exitInvalid
	}
	fmt.Fprintf(stdout, "approved %s of %s: %s (was %s)\n", done.Tool, done.Upstream, done.Pending.Digest, done.Approved.Digest)
	return exitOK
}

func printPending(w io.Writer, pending []toolpin.Entry) {
	for _, e := range pending {
		fmt.Fprintf(w, "  %s  %s  %s (approved %s, seen since %s)\n", e.Upstream, e.Tool, e.Pending.Digest, e.Approved.Digest,
			e.Pending.At.Format("2006-01-02T15:04:05Z07:00"))
	}
}

// printChange shows a pending change as a line diff of the indented
// definitions: "-" lines are only in the approved one, "+" lines only in
// the pending one.
func printChange(w io.Writer, e toolpin.Entry) {
	fmt.Fprintf(w, "tool %s of %s\n--- approved %s (pinned %s)\n+++ pending  %s (seen %s)\n", e.Tool, e.Upstream,
		e.Approved.Digest, e.Approved.At.Format("2006-01-02T15:04:05Z07:00"),
		e.Pending.Digest, e.Pending.At.Format("2006-01-02T15:04:05Z07:00"))
	for _, l := range lineDiff(indentLines(e.Approved.Definition), indentLines(e.Pending.Definition)) {
		fmt.Fprintln(w, l)
	}
}

func indentLines(def json.RawMessage) []string {
	var b bytes.Buffer
	if err := json.Indent(&b, def, "", "  "); err != nil {
		return []string{string(def)}
	}
	return strings.Split(b.String(), "\n")
}

// maxDiffCells bounds the LCS table; larger inputs are shown as a whole
// removal and a whole addition.
const maxDiffCells = 4 << 20

// lineDiff returns a and b as one listing: lines in both prefixed with two
// spaces, lines only in a with "- ", only in b with "+ ", in the order of a
// longest common subsequence.
func lineDiff(a, b []string) []string {
	var out []string
	if len(a)*len(b) > maxDiffCells {
		for _, l := range a {
			out = append(out, "- "+l)
		}
		for _, l := range b {
			out = append(out, "+ "+l)
		}
		return out
	}
	// lcs[i][j] is the LCS length of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			out = append(out, "  "+a[i])
			i++
			j++
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, "- "+a[i])
			i++
		default:
			out = append(out, "+ "+b[j])
			j++
		}
	}
	for ; i < len(a); i++ {
		out = append(out, "- "+a[i])
	}
	for ; j < len(b); j++ {
		out = append(out, "+ "+b[j])
	}
	return out
}
