package authz

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cedar-policy/cedar-go/types"
)

// awsCommand is what policies may know about an AWS CLI command line: which
// service and operation it calls and which flags it gives.
type awsCommand struct {
	Service   string
	Operation string
	// Flags are the long options given, without their values, in order
	// ("--region", "--bucket"); "--region=x" contributes "--region".
	Flags []string
	// Region is the value of --region, "" when not given.
	Region string
	// Rest are the words after the operation, as given.
	Rest []string
}

// globalValueOptions are the AWS CLI global options that take a value. They
// may appear between "aws" and the service name, so the parser must know to
// skip their value to find the service.
var globalValueOptions = map[string]bool{
	"--region": true, "--profile": true, "--endpoint-url": true, "--output": true,
	"--query": true, "--color": true, "--ca-bundle": true, "--cli-read-timeout": true,
	"--cli-connect-timeout": true, "--cli-binary-format": true,
}

// globalFlagOptions are the AWS CLI global options that take no value.
var globalFlagOptions = map[string]bool{
	"--debug": true, "--no-verify-ssl": true, "--no-paginate": true, "--no-sign-request": true,
	"--no-cli-pager": true, "--cli-auto-prompt": true, "--no-cli-auto-prompt": true,
	"--v2-debug": true,
}

// canonicalOption maps a long option to the global option it stands for.
// The AWS CLI parses options with Python's argparse, which accepts any
// unambiguous prefix of a long option ("--endpoint" for "--endpoint-url",
// "--prof" for "--profile"), so a guard rail on the full name must see the
// abbreviation as that name. A prefix of several global options is refused:
// its meaning depends on the CLI version. Options that are not prefixes of a
// global option are command options and stay as written.
func canonicalOption(name string) (string, error) {
	if globalValueOptions[name] || globalFlagOptions[name] || !strings.HasPrefix(name, "--") || len(name) <= 2 {
		return name, nil
	}
	match := ""
	for _, set := range []map[string]bool{globalValueOptions, globalFlagOptions} {
		for g := range set {
			if !strings.HasPrefix(g, name) {
				continue
			}
			if match != "" {
				return "", fmt.Errorf("option %q is an ambiguous abbreviation of AWS CLI global options", name)
			}
			match = g
		}
	}
	if match == "" {
		return name, nil
	}
	return match, nil
}

// parseAWSCommand splits an AWS CLI command line with POSIX shell word rules
// and extracts service, operation, flags and region. It refuses, rather than
// interprets, anything a shell would treat as more than one simple command
// or would expand: operators, substitutions, newlines, comments, and a second
// "aws" word. What it accepts means the same to a shell and to a plain
// argument splitter, so a policy decision cannot be evaded by quoting.
func parseAWSCommand(cmd string) (awsCommand, error) {
	words, err := shellWords(cmd)
	if err != nil {
		return awsCommand{}, err
	}
	if len(words) == 0 {
		return awsCommand{}, errors.New("empty command")
	}
	if words[0] != "aws" {
		return awsCommand{}, errors.New(`command does not start with "aws"`)
	}
	var c awsCommand
	regionSeen := false
	addFlag := func(w string, rest []string) (consumed int, err error) {
		name, value, hasValue := strings.Cut(w, "=")
		if name == "--" {
			return 0, errors.New(`bare "--" is not supported`)
		}
		if name, err = canonicalOption(name); err != nil {
			return 0, err
		}
		c.Flags = append(c.Flags, name)
		if name != "--region" {
			return 0, nil
		}
		if regionSeen {
			return 0, errors.New("--region given more than once")
		}
		regionSeen = true
		if !hasValue {
			if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
				return 0, errors.New("--region has no value")
			}
			value, consumed = rest[0], 1
		}
		if value == "" {
			return 0, errors.New("--region has no value")
		}
		c.Region = value
		return consumed, nil
	}
	for _, w := range words[1:] {
		if w == "aws" {
			return awsCommand{}, errors.New(`more than one "aws" invocation`)
		}
	}
	i := 1
	// Global options may come before the service.
	for i < len(words) && strings.HasPrefix(words[i], "-") {
		w := words[i]
		name, _, hasValue := strings.Cut(w, "=")
		if name, err = canonicalOption(name); err != nil {
			return awsCommand{}, err
		}
		switch {
		case globalValueOptions[name]:
			n, err := addFlag(w, words[i+1:])
			if err != nil {
				return awsCommand{}, err
			}
			if !hasValue && name != "--region" {
				if i+1 >= len(words) {
					return awsCommand{}, fmt.Errorf("%s has no value", name)
				}
				n = 1
			}
			i += 1 + n
		case globalFlagOptions[name] && !hasValue:
			c.Flags = append(c.Flags, name)
			i++
		default:
			return awsCommand{}, fmt.Errorf("unknown option %q before the service name", name)
		}
	}
	if i >= len(words) || words[i] == "" {
		return awsCommand{}, errors.New("missing service name")
	}
	c.Service = words[i]
	i++
	if i >= len(words) || words[i] == "" || strings.HasPrefix(words[i], "-") {
		return awsCommand{}, errors.New("missing operation name")
	}
	c.Operation = words[i]
	i++
	c.Rest = words[i:]
	for i < len(words) {
		w := words[i]
		i++
		if !strings.HasPrefix(w, "--") {
			continue
		}
		n, err := addFlag(w, words[i:])
		if err != nil {
			return awsCommand{}, err
		}
		i += n
	}
	return c, nil
}

// shellWords splits s into words like a POSIX shell would for a simple
// command, and fails on every construct that would make a shell do more
// than run one command with literal arguments.
func shellWords(s string) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool
	)
	end := func() {
		if inWord {
			words = append(words, cur.String())
			cur.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if err := checkControl(c); err != nil {
			return nil, err
		}
		switch c {
		case ' ', '\t':
			end()
		case '\\':
			if i+1 >= len(s) {
				return nil, errors.New("trailing backslash")
			}
			i++
			if err := checkControl(s[i]); err != nil {
				return nil, err
			}
			cur.WriteByte(s[i])
			inWord = true
		case '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated single quote")
			}
			lit := s[i+1 : i+1+j]
			for k := 0; k < len(lit); k++ {
				if err := checkControl(lit[k]); err != nil {
					return nil, err
				}
			}
			cur.WriteString(lit)
			inWord = true
			i += j + 1
		case '"':
			n, err := doubleQuoted(s[i+1:], &cur)
			if err != nil {
				return nil, err
			}
			inWord = true
			i += n
		case ';', '|', '&', '>', '<', '(', ')', '{', '}':
			return nil, fmt.Errorf("shell operator %q is not allowed", c)
		case '`':
			return nil, errors.New("command substitution (backtick) is not allowed")
		case '$':
			return nil, errors.New("shell expansion ($) is not allowed")
		case '#':
			if !inWord {
				return nil, errors.New("shell comment (#) is not allowed")
			}
			cur.WriteByte(c)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	end()
	return words, nil
}

// doubleQuoted consumes a double-quoted string body from s (just after the
// opening quote) and returns how many bytes it used, including the closing
// quote. Inside double quotes a shell still expands $ and backticks, so both
// are refused unless escaped.
func doubleQuoted(s string, cur *strings.Builder) (int, error) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if err := checkControl(c); err != nil {
			return 0, err
		}
		switch c {
		case '"':
			return i + 1, nil
		case '\\':
			if i+1 >= len(s) {
				return 0, errors.New("unterminated double quote")
			}
			next := s[i+1]
			if err := checkControl(next); err != nil {
				return 0, err
			}
			switch next {
			case '$', '`', '"', '\\':
				cur.WriteByte(next)
				i++
			default:
				cur.WriteByte('\\')
			}
		case '`':
			return 0, errors.New("command substitution (backtick) is not allowed")
		case '$':
			return 0, errors.New("shell expansion ($) is not allowed")
		default:
			cur.WriteByte(c)
		}
	}
	return 0, errors.New("unterminated double quote")
}

// checkControl refuses newlines and other control characters anywhere in a
// command: a newline ends a shell command, and the others have no business
// in an AWS CLI argument.
func checkControl(c byte) error {
	switch {
	case c == '\n' || c == '\r':
		return errors.New("newline is not allowed")
	case c < 0x20 && c != '\t', c == 0x7f:
		return fmt.Errorf("control character %#x is not allowed", c)
	}
	return nil
}

// awsCLIRecord is the value of context.aws_cli for a cli_command argument:
// either the parsed command or a record holding only parse_error.
func awsCLIRecord(v any) types.Record {
	s, ok := v.(string)
	if !ok {
		return types.NewRecord(types.RecordMap{"parse_error": types.String("cli_command is not a string")})
	}
	c, err := parseAWSCommand(s)
	if err != nil {
		return types.NewRecord(types.RecordMap{"parse_error": types.String(err.Error())})
	}
	flags := make([]types.Value, len(c.Flags))
	for i, f := range c.Flags {
		flags[i] = types.String(f)
	}
	rm := types.RecordMap{
		"service":   types.String(c.Service),
		"operation": types.String(c.Operation),
		"args":      types.NewSet(flags...),
	}
	if c.Region != "" {
		rm["region"] = types.String(c.Region)
	}
	return types.NewRecord(rm)
}
