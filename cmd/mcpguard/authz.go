package main

import (
	"context"
	"fmt"
	"io"

	"github.com/mcpguard/mcpguard/authz"
)

const authzUsage = `usage:
  mcpguard authz check [--explain] --config FILE --claims FILE (--request FILE | --method GET|DELETE)
  mcpguard authz test [--coverage] [--schema-validation strict|warn|off] DIR
  mcpguard authz schema
`

// runAuthz dispatches the authz subcommands.
func runAuthz(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, authzUsage)
		return exitInvalid
	}
	switch args[0] {
	case "check":
		return runAuthzCheck(ctx, args[1:], stdout, stderr)
	case "test":
		return runAuthzTest(ctx, args[1:], stdout, stderr)
	case "schema":
		if len(args) > 1 {
			fmt.Fprint(stderr, authzUsage)
			return exitInvalid
		}
		if _, err := stdout.Write(authz.DefaultSchema()); err != nil {
			fmt.Fprintln(stderr, "mcpguard authz schema:", err)
			return exitInvalid
		}
		return exitOK
	}
	fmt.Fprint(stderr, authzUsage)
	return exitInvalid
}
