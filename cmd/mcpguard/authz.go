package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/mcpguard/mcpguard/authz"
)

const authzUsage = `usage:
  mcpguard authz check [--explain] --config FILE --claims FILE (--request FILE | --method GET|DELETE)
  mcpguard authz test [--coverage] [--schema-validation strict|warn|off] DIR
  mcpguard authz schema [--from-tools FILE]
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
		return runAuthzSchema(args[1:], stdout, stderr)
	}
	if isHelp(args[0]) {
		fmt.Fprint(stdout, authzUsage)
		return exitOK
	}
	fmt.Fprintf(stderr, "mcpguard authz: unknown command %q\n\n%s", args[0], authzUsage)
	return exitInvalid
}

// runAuthzSchema prints the Cedar schema, with --from-tools extended by the
// arguments the tools of a tools/list result declare.
func runAuthzSchema(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("authz schema", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fromTools := fs.String("from-tools", "", "a tools/list result (JSON); declare its tools' arguments in ToolArguments")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "mcpguard authz schema: unexpected argument %q\n\n%s", fs.Arg(0), authzUsage)
		return exitInvalid
	}
	out := authz.DefaultSchema()
	if *fromTools != "" {
		tools, err := readToolList(*fromTools)
		if err != nil {
			fmt.Fprintln(stderr, "mcpguard authz schema:", err)
			return exitInvalid
		}
		var skipped []string
		out, skipped, err = authz.SchemaWithToolArguments(tools)
		if err != nil {
			fmt.Fprintln(stderr, "mcpguard authz schema:", err)
			return exitInvalid
		}
		for _, s := range skipped {
			fmt.Fprintf(stderr, "warning: argument left out: %s\n", s)
		}
	}
	if _, err := stdout.Write(out); err != nil {
		fmt.Fprintln(stderr, "mcpguard authz schema:", err)
		return exitInvalid
	}
	return exitOK
}

// readToolList reads the tools of a tools/list result: a JSON-RPC response,
// its result object, or the tools array itself.
func readToolList(path string) ([]authz.ToolInputSchema, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Tools  []authz.ToolInputSchema `json:"tools"`
		Result *struct {
			Tools []authz.ToolInputSchema `json:"tools"`
		} `json:"result"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		var arr []authz.ToolInputSchema
		if aerr := json.Unmarshal(raw, &arr); aerr != nil {
			return nil, fmt.Errorf("%s: not a tools/list result: %w", path, err)
		}
		return arr, nil
	}
	tools := doc.Tools
	if doc.Result != nil {
		tools = doc.Result.Tools
	}
	if len(tools) == 0 {
		return nil, fmt.Errorf("%s: no tools", path)
	}
	return tools, nil
}
