package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/mcpguard/mcpguard/authz"
	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/gateway"
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
		opts, err := authzOptions(cfg)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", *configPath, err)
			return exitInvalid
		}
		warnings, err := authz.Check(opts)
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

// authzOptions maps authz_config onto the authorizer's options, with the
// same AWS analysis as the gateway.
func authzOptions(cfg *config.Config) (authz.Options, error) {
	aws, err := gateway.AWSAnalysisOptions(cfg)
	if err != nil {
		return authz.Options{}, err
	}
	return authz.Options{
		PolicyFiles:  cfg.Authz.PolicyFiles,
		EntitiesFile: cfg.Authz.EntitiesFile,
		ServerHost:   cfg.Upstream.Host,
		GroupClaim:   cfg.Authz.GroupClaim,
		AWS:          aws,
	}, nil
}
