package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

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
	var infos serverInfoFlags
	fs.Var(&infos, "server-info", "`[UPSTREAM=]FILE`: a saved initialize or server/discover answer of the upstream (or of the named upstream); warns about advertised capabilities no policy permits (repeatable)")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
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
	if ps := stateProblems(cfg); len(ps) > 0 {
		for _, p := range ps {
			fmt.Fprintf(stderr, "%s: %s\n", *configPath, p)
		}
		return exitInvalid
	}
	if err := gateway.CheckCredentials(cfg); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", *configPath, err)
		return exitInvalid
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintf(stderr, "warning: %s\n", w)
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
	capWarnings, err := capabilityWarnings(cfg, infos)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", *configPath, err)
		return exitInvalid
	}
	for _, w := range capWarnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	if cfg.OIDC.ResourceMetadata.Resource == "" {
		path := cfg.Upstream.Path
		if path == "" {
			path = "/mcp"
		}
		fmt.Fprintf(stderr, "warning: oidc_config.resource_metadata.resource is not set: the protected resource identifier in 401 challenges and the RFC 9728 document is derived from upstream.host as https://%s%s (never from the request), and the document is served with Cache-Control: no-store; set it to the URL MCP clients connect to\n", cfg.Upstream.Host, path)
	}
	issuers := cfg.OIDC.Issuer
	if cfg.HasProviders() {
		names := make([]string, len(cfg.OIDCProviders))
		for i, p := range cfg.OIDCProviders {
			names[i] = p.Name + "=" + p.Issuer
		}
		issuers = strings.Join(names, " ")
	}
	fmt.Fprintf(stdout, "%s: configuration is valid (issuer %s, upstream %s, %d role mapping(s))\n",
		*configPath, issuers, cfg.Upstream.Host, len(cfg.STS.RoleMappings))
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
		// validate flags a policy file without policies unless the
		// operator accepts it, as serve and every reload do.
		AllowGuardrailRemoval: cfg.Authz.AllowGuardrailRemoval,

		SchemaValidation: authz.SchemaMode(cfg.Authz.SchemaValidation),
		SchemaFile:       cfg.Authz.SchemaFile,
		AWS:              aws,
	}, nil
}
