package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/authz"
	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/gateway"
	"github.com/mcpguard/mcpguard/mcp"
)

// runAuthzCheck evaluates one request against the configured policies, so
// operators can test a policy change before rolling it out.
func runAuthzCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("authz check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "path to the mcpguard YAML configuration (required)")
	claimsPath := fs.String("claims", "", "JSON file with the caller's token claims (required)")
	requestPath := fs.String("request", "", "JSON-RPC request body file (for POST)")
	method := fs.String("method", "POST", "HTTP method: POST (with --request), GET or DELETE")
	explain := fs.Bool("explain", false, "for each denied message, list the permits that came closest and what each lacked")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	*method = strings.ToUpper(*method)
	switch {
	case *configPath == "" || *claimsPath == "":
		fmt.Fprintln(stderr, "mcpguard authz check: --config and --claims are required")
		return exitInvalid
	case *method == "POST" && *requestPath == "":
		fmt.Fprintln(stderr, "mcpguard authz check: --request is required for POST")
		return exitInvalid
	case *method != "POST" && *method != "GET" && *method != "DELETE":
		fmt.Fprintf(stderr, "mcpguard authz check: --method must be POST, GET or DELETE, not %q\n", *method)
		return exitInvalid
	case *method != "POST" && *requestPath != "":
		fmt.Fprintf(stderr, "mcpguard authz check: %s requests have no body; drop --request\n", *method)
		return exitInvalid
	}

	cfg, err := config.Load(*configPath)
	if err != nil {
		printProblems(stderr, *configPath, err)
		return exitInvalid
	}
	if cfg.Authz == nil {
		fmt.Fprintf(stderr, "%s: no authz_config: every request is denied\n", *configPath)
		return exitInvalid
	}
	id, err := identityFromClaimsFile(*claimsPath, cfg.OIDC.GroupClaim)
	if err == nil {
		// With oidc_providers the claims' iss picks the provider whose
		// claim mapping and principal shape apply, as in the gateway.
		id, err = authn.ProviderIdentity(gateway.AuthnOptions(cfg), id)
	}
	if err != nil {
		fmt.Fprintln(stderr, "mcpguard authz check:", err)
		return exitInvalid
	}
	req := authz.Request{HTTPMethod: *method, RequestID: "authz-check", Time: time.Now()}
	if *requestPath != "" {
		raw, err := os.ReadFile(*requestPath)
		if err != nil {
			fmt.Fprintln(stderr, "mcpguard authz check:", err)
			return exitInvalid
		}
		req.Body, err = mcp.Parse(raw, mcp.Limits{MaxBytes: int(cfg.Server.MaxRequestBodyBytes)})
		if err != nil {
			fmt.Fprintf(stderr, "mcpguard authz check: %s: %v\n", *requestPath, err)
			return exitInvalid
		}
	}
	opts, err := authzOptions(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", *configPath, err)
		return exitInvalid
	}
	az, err := authz.New(ctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "%s: policies: %v\n", *configPath, err)
		return exitInvalid
	}
	var explanation []authz.ItemExplanation
	var dec authz.Decision
	if *explain {
		dec, explanation, err = az.Explain(ctx, id, req)
	} else {
		dec, err = az.Authorize(ctx, id, req)
	}
	if err != nil {
		fmt.Fprintln(stderr, "mcpguard authz check:", err)
		return exitInvalid
	}
	out := struct {
		Decision string               `json:"decision"`
		Reason   string               `json:"reason,omitempty"`
		Policies []string             `json:"policies"`
		Errors   []authz.EvalError    `json:"errors"`
		Items    []authz.ItemDecision `json:"items"`
		// Explanation is present with --explain.
		Explanation []authz.ItemExplanation `json:"explanation,omitempty"`
	}{Decision: "deny", Reason: dec.Reason(), Policies: dec.Policies, Errors: dec.Errors, Items: dec.Items, Explanation: explanation}
	if dec.Allow {
		out.Decision = "allow"
	}
	if out.Policies == nil {
		out.Policies = []string{}
	}
	if out.Errors == nil {
		out.Errors = []authz.EvalError{}
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(stderr, "mcpguard authz check:", err)
		return exitInvalid
	}
	if !dec.Allow {
		return exitDeny
	}
	return exitOK
}

// identityFromClaimsFile builds the identity a verified token with these
// claims would produce.
func identityFromClaimsFile(path, groupClaim string) (*authn.Identity, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return identityFromClaimsJSON(path, raw, groupClaim)
}

// identityFromClaimsJSON is identityFromClaimsFile for claims already read;
// path names them in errors.
func identityFromClaimsJSON(path string, raw []byte, groupClaim string) (*authn.Identity, error) {
	var claims map[string]any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil {
		return nil, fmt.Errorf("%s: claims must be a JSON object: %w", path, err)
	}
	sub, _ := claims["sub"].(string)
	if sub == "" {
		return nil, fmt.Errorf("%s: claims need a non-empty string \"sub\"", path)
	}
	iss, _ := claims["iss"].(string)
	email, _ := claims["email"].(string)
	groups, err := authn.GroupsFromClaims(claims, groupClaim)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &authn.Identity{
		Subject:     sub,
		Issuer:      iss,
		Email:       email,
		Groups:      groups,
		Claims:      claims,
		ExpiresAt:   time.Now().Add(time.Hour),
		TokenDigest: sha256.Sum256(raw),
	}, nil
}
