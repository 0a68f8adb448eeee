package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/mcpguard/mcpguard/authz"
	"github.com/mcpguard/mcpguard/config"
)

// runValidate checks the configuration and every policy file without
// starting anything, listing every problem at once.
func runValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "path to the mcpguard YAML configuration (required)")
	if err := fs.Parse(args); err != nil {
		return exitInvalid
	}
	if *configPath == "" {
		fmt.Fprintln(stderr, "mcpguard validate: --config is required")
		return exitInvalid
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		printProblems(stderr, *configPath, err)
		return exitInvalid
	}
	if cfg.Authz == nil {
		fmt.Fprintf(stderr, "warning: no authz_config: mcpguard will deny every request until policies are configured\n")
	} else {
		warnings, err := authz.Check(authzOptions(cfg))
		if err != nil {
			fmt.Fprintf(stderr, "%s: policies: %v\n", *configPath, err)
			return exitInvalid
		}
		for _, w := range warnings {
			fmt.Fprintf(stderr, "warning: %s\n", w)
		}
	}
	fmt.Fprintf(stdout, "%s: configuration is valid (issuer %s, upstream %s, %d role mapping(s))\n",
		*configPath, cfg.OIDC.Issuer, cfg.Upstream.Host, len(cfg.STS.RoleMappings))
	return exitOK
}

// authzOptions maps authz_config onto the authorizer's options.
func authzOptions(cfg *config.Config) authz.Options {
	return authz.Options{
		PolicyFiles:  cfg.Authz.PolicyFiles,
		EntitiesFile: cfg.Authz.EntitiesFile,
		ServerHost:   cfg.Upstream.Host,
		GroupClaim:   cfg.Authz.GroupClaim,

		SchemaValidation: authz.SchemaMode(cfg.Authz.SchemaValidation),
		SchemaFile:       cfg.Authz.SchemaFile,
	}
}
