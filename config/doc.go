// Package config defines mcpguard's one configuration file: the YAML schema,
// its defaults, strict decoding and validation.
//
// Decoding walks a yaml.Node tree instead of unmarshalling into structs, so
// that every problem carries the YAML path of the value at fault
// ("aws_sts_config.role_mappings[1].role_arn: not an IAM role ARN: ...") and
// every problem in a file is reported at once, not only the first. Unknown
// keys, type mismatches, bad durations, malformed ARNs, URLs and regions are
// all problems; decoding never panics on any input (FuzzParse checks this).
//
// Rules the whole file follows:
//   - Keys are snake_case; an unknown key is an error.
//   - A key that is absent or null keeps its documented default.
//   - Durations are Go duration strings ("30s", "1h30m").
//   - Every list of strings also accepts a single string.
//   - Relative file paths are resolved against the folder of the config file.
//   - URLs must use https; http is accepted only for loopback hosts, so local
//     test identity providers work without weakening production.
//
// Load and Parse read files the configuration names (session policy
// documents) and Validate checks that policy globs and the entities file
// match real files; they do not parse Cedar policies or contact any service.
// That is left to the packages that own those formats.
//
// Specs followed: YAML 1.2 through gopkg.in/yaml.v3; RFC 7518 algorithm
// names; OpenID Connect Discovery 1.0 (issuer URL shape); RFC 9728 (protected
// resource metadata); the IAM ARN grammar and STS AssumeRoleWithWebIdentity
// limits (duration 15m–12h, session policy ≤ 2048 characters, ≤ 10 policy
// ARNs).
//
// This package imports the standard library and gopkg.in/yaml.v3 only. It
// must not import any other mcpguard package, so every package may import it.
package config
