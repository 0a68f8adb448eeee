package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/mcpguard/mcpguard/audit"
)

// exitBroken is audit verify's exit code for a log whose chain is broken.
const exitBroken = 1

const auditVerifyUsage = "usage: mcpguard audit verify [--pubkey FILE [--checkpoints FILE]] FILE...\n"

// runAuditVerify walks audit logs' hash chain, in the order given (rotated
// files oldest first, the current file last), and reports the first broken
// or missing link: exit 0 intact, 1 broken, 2 unreadable or not an audit
// log. With --pubkey it also checks the signed checkpoints (default: the
// last FILE's path + ".checkpoints"): every signature, every anchored
// record, and that no checkpoint lies beyond the end (a deleted tail). FILE
// "-" reads standard input.
func runAuditVerify(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pubPath := fs.String("pubkey", "", "Ed25519 public key (PEM) that verifies the checkpoints")
	cpPath := fs.String("checkpoints", "", "checkpoint file (default: the last FILE + .checkpoints; needs --pubkey)")
	fs.Usage = func() {
		fmt.Fprint(stderr, auditVerifyUsage)
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	paths := fs.Args()
	switch {
	case len(paths) == 0:
		fs.Usage()
		return exitInvalid
	case *cpPath != "" && *pubPath == "":
		fmt.Fprint(stderr, "mcpguard audit verify: --checkpoints needs --pubkey\n"+auditVerifyUsage)
		return exitInvalid
	case len(paths) > 1 && slices.Contains(paths, "-"):
		fmt.Fprint(stderr, "mcpguard audit verify: - (standard input) must be the only FILE\n"+auditVerifyUsage)
		return exitInvalid
	}
	var opts audit.VerifyOptions
	if *pubPath != "" {
		pub, err := audit.LoadPublicKey(*pubPath)
		if err != nil {
			fmt.Fprintf(stderr, "mcpguard audit verify: %v\n", err)
			return exitInvalid
		}
		if *cpPath == "" {
			if paths[len(paths)-1] == "-" {
				fmt.Fprint(stderr, "mcpguard audit verify: give --checkpoints when reading standard input\n")
				return exitInvalid
			}
			*cpPath = paths[len(paths)-1] + ".checkpoints"
		}
		f, err := os.Open(*cpPath)
		if err != nil {
			fmt.Fprintf(stderr, "mcpguard audit verify: %v\n", err)
			return exitInvalid
		}
		cps, err := audit.ReadCheckpoints(f, pub)
		f.Close()
		var cpErr *audit.CheckpointError
		switch {
		case errors.As(err, &cpErr):
			fmt.Fprintf(stdout, "%s: BROKEN: %v\n", *cpPath, err)
			return exitBroken
		case err != nil:
			fmt.Fprintf(stderr, "mcpguard audit verify: %v\n", err)
			return exitInvalid
		case len(cps) == 0:
			fmt.Fprintf(stderr, "mcpguard audit verify: %s holds no checkpoint to verify against\n", *cpPath)
			return exitInvalid
		}
		opts.Checkpoints = cps
	}
	readers := make([]io.Reader, 0, len(paths))
	for _, p := range paths {
		if p == "-" {
			readers = append(readers, os.Stdin)
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			fmt.Fprintf(stderr, "mcpguard audit verify: %v\n", err)
			return exitInvalid
		}
		defer f.Close()
		readers = append(readers, f)
	}
	name := strings.Join(paths, " ")
	rep, err := audit.VerifyLogs(readers, opts)
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitInvalid
	case rep.BrokenAt != 0:
		fmt.Fprintf(stdout, "%s: BROKEN at line %d: %s (%d records verified before it)\n",
			paths[rep.File], rep.BrokenAt, rep.Reason, rep.Records)
		return exitBroken
	}
	fmt.Fprintf(stdout, "%s: intact: %d records, seq %d to %d, last hash %s", name, rep.Records, rep.FirstSeq, rep.LastSeq, rep.LastHash)
	if rep.Continues {
		fmt.Fprintf(stdout, "; continues the chain from seq %d (give the earlier files first to check that link)", rep.FirstSeq-1)
	}
	if opts.Checkpoints != nil {
		fmt.Fprintf(stdout, "; %d signed checkpoints matched", rep.Anchored)
		if rep.Earlier+rep.Later > 0 {
			fmt.Fprintf(stdout, " (%d before and %d after these files)", rep.Earlier, rep.Later)
		}
	}
	fmt.Fprintln(stdout)
	return exitOK
}
