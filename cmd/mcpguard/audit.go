package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/mcpguard/mcpguard/audit"
)

// exitBroken is audit verify's exit code for a log whose chain is broken.
const exitBroken = 1

// runAuditVerify walks an audit log's hash chain and reports the first
// broken or missing link: exit 0 intact, 1 broken, 2 unreadable or not an
// audit log. FILE "-" reads standard input.
func runAuditVerify(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mcpguard audit verify FILE")
	}
	if err := fs.Parse(args); err != nil {
		return exitInvalid
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitInvalid
	}
	path := fs.Arg(0)
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintf(stderr, "mcpguard audit verify: %v\n", err)
			return exitInvalid
		}
		defer f.Close()
		r = f
	}
	rep, err := audit.Verify(r)
	switch {
	case errors.Is(err, audit.ErrNotAuditLog):
		fmt.Fprintf(stderr, "%s: %v\n", path, err)
		return exitInvalid
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v\n", path, err)
		return exitInvalid
	case rep.BrokenAt != 0:
		fmt.Fprintf(stdout, "%s: BROKEN at line %d: %s (%d records verified before it)\n",
			path, rep.BrokenAt, rep.Reason, rep.Records)
		return exitBroken
	}
	fmt.Fprintf(stdout, "%s: intact: %d records, last seq %d, last hash %s\n",
		path, rep.Records, rep.LastSeq, rep.LastHash)
	return exitOK
}
