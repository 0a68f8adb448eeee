package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// synopsis is the usage line of "mcpguard <name>" from the top-level usage
// text, so each command's --help repeats what `mcpguard help` says.
func synopsis(name string) string {
	for _, line := range strings.Split(usage, "\n") {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, "mcpguard "+name); ok && (rest == "" || rest[0] == ' ') {
			if i := strings.Index(line, "   ("); i > 0 {
				line = line[:i] // drop the "(prints …)" note
			}
			return strings.Join(strings.Fields(line), " ")
		}
	}
	return "mcpguard " + name
}

// parseFlags parses args with fs, following the CLI's conventions: -h or
// --help prints the command's usage and flags to stdout and reports
// exitOK; a bad flag prints the problem and the usage to stderr and
// reports exitInvalid. ok is true when the command should go on.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	var buf bytes.Buffer
	out := fs.Output()
	fs.SetOutput(&buf)
	defer fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s\n", synopsis(fs.Name()))
		fs.PrintDefaults()
	}
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		_, _ = buf.WriteTo(stdout)
		return exitOK, false
	case err != nil:
		_, _ = buf.WriteTo(stderr)
		return exitInvalid, false
	}
	return exitOK, true
}

// isHelp reports whether arg asks for help instead of naming a subcommand.
func isHelp(arg string) bool {
	switch arg {
	case "help", "-h", "-help", "--help":
		return true
	}
	return false
}
