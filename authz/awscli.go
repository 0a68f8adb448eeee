package authz

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/cedar-policy/cedar-go/types"

	"github.com/mcpguard/mcpguard/awsapi"
)

// awsCommand is what policies may know about an AWS CLI command line: which
// service and operation it calls and which flags it gives.
type awsCommand struct {
	Service   string
	Operation string
	// Flags are the long options given, by their full names after the
	// CLI's prefix expansion, without their values, in order ("--region",
	// "--bucket"); "--region=x" contributes "--region".
	Flags []string
	// Region is the value of --region, "" when not given.
	Region string
	// Regions holds every region the command names: the --region and
	// --source-region values and the region field of every ARN among the
	// words, in order, without repeats. The CLI signs for an access point
	// ARN's region (s3://arn:aws:s3:eu-west-1:...), whatever --region says.
	Regions []string
	// Operands are the words after the operation that are neither options
	// nor option values: the paths and URIs of the s3 commands.
	Operands []string
	// Rest are the words after the operation, as given.
	Rest []string
}

// CLICommand is the reading of a cli_command that the audit trail records
// beside the raw text, so a padded command cannot hide what it names.
type CLICommand struct {
	Service, Operation string
	// Options are the long options by full name, in order.
	Options []string
	// Regions are the regions the command names (context.aws_cli.regions).
	Regions []string
	// Operands are the positional words (source and destination of s3 cp).
	Operands []string
}

// ParseCLICommand reads cmd the way policies see it (context.aws_cli); an
// error is the parse_error policies see.
func ParseCLICommand(cmd string) (CLICommand, error) {
	c, err := parseAWSCommand(cmd)
	if err != nil {
		return CLICommand{}, err
	}
	return CLICommand{Service: c.Service, Operation: c.Operation, Options: c.Flags, Regions: c.Regions, Operands: c.Operands}, nil
}

// arity says how many values an option takes, the way argparse reads them.
type arity int

const (
	flagOpt     arity = iota // store_true: no value; "--x=v" is an error
	valueOpt                 // exactly one value
	optionalOpt              // nargs='?': the next word when it is not an option
	listOpt                  // nargs='+': one or more words up to the next option
	anyOpt                   // nargs='*': every word up to the next option, maybe none
)

// globalOptions are the AWS CLI's global options (aws help, "Global
// Options"; docs.aws.amazon.com/cli/latest/reference/). The CLI's main
// parser reads them anywhere in the command line, before the service,
// between service and operation, and among the operation's own options,
// and it expands an unambiguous prefix of one before the command's parser
// sees the word: "aws s3 ls --p x" is --profile x.
var globalOptions = map[string]arity{
	"--region": valueOpt, "--profile": valueOpt, "--endpoint-url": valueOpt, "--output": valueOpt,
	"--query": valueOpt, "--color": valueOpt, "--ca-bundle": valueOpt, "--cli-read-timeout": valueOpt,
	"--cli-connect-timeout": valueOpt, "--cli-binary-format": valueOpt,
	"--debug": flagOpt, "--no-verify-ssl": flagOpt, "--no-paginate": flagOpt, "--no-sign-request": flagOpt,
	"--no-cli-pager": flagOpt, "--cli-auto-prompt": flagOpt, "--no-cli-auto-prompt": flagOpt,
	"--v2-debug": flagOpt, "--version": flagOpt,
}

// s3Transfer are the options the transfer commands cp, mv and sync share
// (docs.aws.amazon.com/cli/latest/reference/s3/cp.html, mv.html, sync.html).
var s3Transfer = map[string]arity{
	"--dryrun": flagOpt, "--quiet": flagOpt, "--include": valueOpt, "--exclude": valueOpt,
	"--acl": valueOpt, "--follow-symlinks": flagOpt, "--no-follow-symlinks": flagOpt,
	"--no-guess-mime-type": flagOpt, "--sse": optionalOpt, "--sse-c": optionalOpt, "--sse-c-key": valueOpt,
	"--sse-kms-key-id": valueOpt, "--sse-c-copy-source": optionalOpt, "--sse-c-copy-source-key": valueOpt,
	"--storage-class": valueOpt, "--grants": listOpt, "--website-redirect": valueOpt,
	"--content-type": valueOpt, "--cache-control": valueOpt, "--content-disposition": valueOpt,
	"--content-encoding": valueOpt, "--content-language": valueOpt, "--expires": valueOpt,
	"--source-region": valueOpt, "--only-show-errors": flagOpt, "--no-progress": flagOpt,
	"--page-size": valueOpt, "--ignore-glacier-warnings": flagOpt, "--force-glacier-transfer": flagOpt,
	"--request-payer": optionalOpt, "--checksum-mode": valueOpt, "--checksum-algorithm": valueOpt,
	"--metadata": valueOpt, "--metadata-directive": valueOpt, "--copy-props": valueOpt,
	"--no-overwrite": flagOpt,
}

// s3Commands are the options of every high-level "aws s3" command, from
// the CLI's command reference (docs.aws.amazon.com/cli/latest/reference/s3/
// ls.html, cp.html, mv.html, rm.html, sync.html, mb.html, rb.html,
// presign.html, website.html). The CLI expands an unambiguous prefix of any
// of them ("--del" is --delete for sync) and refuses an ambiguous one, and
// so does the parser. An option missing here is refused as unknown, which
// the CLI would do too, so the tables can only err towards refusing.
var s3Commands = map[string]map[string]arity{
	"ls": {
		"--recursive": flagOpt, "--page-size": valueOpt, "--human-readable": flagOpt, "--summarize": flagOpt,
		"--request-payer": optionalOpt, "--bucket-name-prefix": valueOpt, "--bucket-region": valueOpt,
	},
	"cp":   with(s3Transfer, map[string]arity{"--expected-size": valueOpt, "--recursive": flagOpt}),
	"mv":   with(s3Transfer, map[string]arity{"--expected-size": valueOpt, "--recursive": flagOpt, "--validate-same-s3-paths": flagOpt}),
	"sync": with(s3Transfer, map[string]arity{"--delete": flagOpt, "--exact-timestamps": flagOpt, "--size-only": flagOpt}),
	"rm": {
		"--dryrun": flagOpt, "--quiet": flagOpt, "--recursive": flagOpt, "--request-payer": optionalOpt,
		"--include": valueOpt, "--exclude": valueOpt, "--only-show-errors": flagOpt, "--page-size": valueOpt,
	},
	"mb":      {"--tags": listOpt},
	"rb":      {"--force": flagOpt},
	"presign": {"--expires-in": valueOpt},
	"website": {"--index-document": valueOpt, "--error-document": valueOpt},
}

func with(base, extra map[string]arity) map[string]arity {
	m := make(map[string]arity, len(base)+len(extra))
	for k, v := range base {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// expand resolves a long option against one parser's options the way
// argparse does: an exact name, else the one option it is a prefix of. It
// reports found=false when no option matches and an error when several do.
func expand(name string, opts map[string]arity) (full string, a arity, found bool, err error) {
	if a, ok := opts[name]; ok {
		return name, a, true, nil
	}
	for o, oa := range opts {
		if !strings.HasPrefix(o, name) {
			continue
		}
		if found {
			return "", 0, false, fmt.Errorf("option %q is an ambiguous abbreviation", name)
		}
		full, a, found = o, oa, true
	}
	return full, a, found, nil
}

// isNegativeNumber is argparse's test for a word that starts with '-' but
// is a value ("-5", "-1.5"), which the CLI's parsers, having no options
// that look like numbers, take as an argument.
func isNegativeNumber(w string) bool {
	if len(w) < 2 || w[0] != '-' {
		return false
	}
	dot := false
	for i := 1; i < len(w); i++ {
		switch c := w[i]; {
		case c >= '0' && c <= '9':
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return true
}

// isOptionWord reports whether argparse reads w as an option rather than
// as a value: it starts with '-', is not "-" alone, not a negative number
// and holds no space.
func isOptionWord(w string) bool {
	return len(w) > 1 && w[0] == '-' && !isNegativeNumber(w) && !strings.Contains(w, " ")
}

// parseAWSCommand splits an AWS CLI command line with POSIX shell word rules
// and reads it the way the AWS CLI's argparse parsers do: global options
// anywhere (before the service, between service and operation, after the
// operation), unambiguous prefixes of global options and of the options
// of the high-level s3 commands expanded, ambiguous prefixes refused,
// option values consumed by each option's arity. It refuses, rather than
// interprets, anything a shell would treat as more than one simple command
// or would expand: operators, substitutions, newlines, comments, a second
// "aws" word, and every whitespace or separator character other than space
// and tab. What it accepts means the same to a shell, to a plain argument
// splitter and to the CLI, so a policy decision cannot be evaded by
// quoting, abbreviating or reordering.
func parseAWSCommand(cmd string) (awsCommand, error) {
	if err := checkSeparators(cmd); err != nil {
		return awsCommand{}, err
	}
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
	for _, w := range words[1:] {
		if w == "aws" {
			return awsCommand{}, errors.New(`more than one "aws" invocation`)
		}
	}
	p := cliParser{words: words, i: 1}
	// Before the service and between service and operation only global
	// options may appear.
	if err := p.globalsOnly("before the service name"); err != nil {
		return awsCommand{}, err
	}
	if p.i >= len(words) || words[p.i] == "" {
		return awsCommand{}, errors.New("missing service name")
	}
	p.c.Service = words[p.i]
	p.i++
	if err := p.globalsOnly("before the operation name"); err != nil {
		return awsCommand{}, err
	}
	if p.i >= len(words) || words[p.i] == "" {
		return awsCommand{}, errors.New("missing operation name")
	}
	p.c.Operation = words[p.i]
	p.i++
	p.c.Rest = words[p.i:]
	var table map[string]arity
	if p.c.Service == "s3" {
		if table = s3Commands[p.c.Operation]; table == nil {
			return awsCommand{}, fmt.Errorf("unknown s3 command %q", truncateWord(p.c.Operation))
		}
	} else if table, err = serviceCommandOptions(p.c.Service, p.c.Operation); err != nil {
		return awsCommand{}, err
	}
	for p.i < len(words) {
		w := words[p.i]
		if !isOptionWord(w) {
			p.noteARN(w)
			p.c.Operands = append(p.c.Operands, w)
			p.i++
			continue
		}
		if err := p.option(table); err != nil {
			return awsCommand{}, err
		}
	}
	return p.c, nil
}

// checkSeparators refuses invalid UTF-8 and every character outside ASCII
// that some splitter reads as whitespace or as nothing: Unicode spaces
// (U+00A0, U+2000–U+200A, U+3000, …), line and paragraph separators, NEL
// and the other C1 controls, and the zero-width characters. The upstream
// splits commands with Python, whose str.split() honours Unicode
// whitespace while shlex does not; "aws s3\u00a0rb" must not be one word
// to mcpguard and two to the upstream, so it is neither.
func checkSeparators(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("command is not valid UTF-8")
	}
	for _, r := range s {
		if r < utf8.RuneSelf {
			continue
		}
		switch {
		case r <= 0x9f, unicode.IsSpace(r), unicode.In(r, unicode.Zs, unicode.Zl, unicode.Zp),
			r == 0x180e, r >= 0x200b && r <= 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2060 && r <= 0x2064, r == 0xfeff:
			return fmt.Errorf("whitespace, separator or invisible character U+%04X is not allowed", r)
		}
	}
	return nil
}

// cliParser walks the words of one command line.
type cliParser struct {
	words []string
	i     int
	c     awsCommand
}

// globalsOnly consumes global options at the current position.
func (p *cliParser) globalsOnly(where string) error {
	for p.i < len(p.words) && isOptionWord(p.words[p.i]) {
		name, _, _ := strings.Cut(p.words[p.i], "=")
		if _, _, found, err := p.resolve(name, nil); err != nil {
			return err
		} else if !found {
			return fmt.Errorf("unknown option %q %s", truncateWord(name), where)
		}
		if err := p.option(nil); err != nil {
			return err
		}
	}
	return nil
}

// resolve expands name: global options first, as the CLI's main parser
// takes them before the command's parser sees the rest; then the command's
// own table, when it has one. Without a table (service API commands, whose
// options come from the service model) an option that is not global is
// kept as written.
func (p *cliParser) resolve(name string, table map[string]arity) (string, arity, bool, error) {
	if strings.HasPrefix(name, "-") && !strings.HasPrefix(name, "--") {
		return "", 0, false, fmt.Errorf("short option %q is not supported", truncateWord(name))
	}
	if name == "--" {
		return "", 0, false, errors.New(`bare "--" is not supported`)
	}
	full, a, found, err := expand(name, globalOptions)
	if err != nil || found {
		return full, a, found, err
	}
	if table == nil {
		return name, listOpt, false, nil
	}
	full, a, found, err = expand(name, table)
	if err != nil {
		return "", 0, false, err
	}
	if !found {
		return "", 0, false, fmt.Errorf("unknown option %q", truncateWord(name))
	}
	return full, a, true, nil
}

// option consumes the option at the current position and its values.
func (p *cliParser) option(table map[string]arity) error {
	w := p.words[p.i]
	p.i++
	name, value, hasValue := strings.Cut(w, "=")
	full, a, _, err := p.resolve(name, table)
	if err != nil {
		return err
	}
	p.c.Flags = append(p.c.Flags, full)
	var values []string
	switch a {
	case flagOpt:
		if hasValue {
			return fmt.Errorf("%s takes no value", full)
		}
	case valueOpt:
		if !hasValue {
			if p.i >= len(p.words) || isOptionWord(p.words[p.i]) {
				return fmt.Errorf("%s has no value", full)
			}
			value = p.words[p.i]
			p.i++
		}
		values = []string{value}
	case optionalOpt, listOpt, anyOpt:
		// "--x=v" gives exactly the one value, as argparse reads an
		// explicit argument whatever the option's nargs; the words after
		// it are positional.
		if hasValue {
			values = []string{value}
			break
		}
		for p.i < len(p.words) && !isOptionWord(p.words[p.i]) {
			values = append(values, p.words[p.i])
			p.i++
			if a == optionalOpt {
				break
			}
		}
		if a == listOpt && len(values) == 0 && table != nil {
			return fmt.Errorf("%s has no value", full)
		}
	}
	for _, v := range values {
		p.noteARN(v)
	}
	switch full {
	case "--region":
		if p.c.Region != "" {
			return errors.New("--region given more than once")
		}
		if values[0] == "" {
			return errors.New("--region has no value")
		}
		p.c.Region = values[0]
		p.noteRegion(values[0])
	case "--source-region":
		if len(values) > 0 {
			p.noteRegion(values[0])
		}
	}
	return nil
}

// noteARN records the region of an ARN in w ("arn:aws:s3:eu-west-1:…",
// also inside an s3:// URI or after "=" in shorthand syntax).
func (p *cliParser) noteARN(w string) {
	for {
		i := strings.Index(w, "arn:")
		if i < 0 {
			return
		}
		w = w[i+len("arn:"):]
		parts := strings.SplitN(w, ":", 5)
		if len(parts) == 5 && parts[2] != "" {
			p.noteRegion(parts[2])
		}
	}
}

func (p *cliParser) noteRegion(r string) {
	if !slices.Contains(p.c.Regions, r) {
		p.c.Regions = append(p.c.Regions, r)
	}
}

// truncateWord bounds an attacker-chosen word quoted in a parse error.
func truncateWord(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
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

// commandRecord is context.aws_cli of a parsed command.
func commandRecord(c awsCommand) types.Record {
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
	regions := make([]types.Value, len(c.Regions))
	for i, r := range c.Regions {
		regions[i] = types.String(r)
	}
	rm["regions"] = types.NewSet(regions...)
	return types.NewRecord(rm)
}

// commandTables caches the converted option table of each service command
// ("ec2 describe-instances"); a nil entry is a command without one.
var commandTables sync.Map

// serviceCommandOptions is the option table of `aws <service> <command>`
// from the AWS CLI's own parsers (awsapi.CLIOptions), so prefixes of an API
// command's options expand as argparse expands them ("--dry" is
// --dry-run), ambiguous ones are refused and each option takes the words
// it takes. A command the CLI does not have, or one that only groups other
// commands (aws ec2 wait), gets nil: its options are kept as written, and
// what it calls is decided elsewhere (awsapi.ErrUnmapped, unknown
// operations).
func serviceCommandOptions(service, command string) (map[string]arity, error) {
	key := service + " " + command
	if t, ok := commandTables.Load(key); ok {
		return t.(map[string]arity), nil
	}
	opts, ok, err := awsapi.CLIOptions(service, command)
	if err != nil {
		return nil, fmt.Errorf("aws CLI option tables: %w", err)
	}
	var table map[string]arity
	if ok {
		table = make(map[string]arity, len(opts))
		for name, a := range opts {
			switch a {
			case awsapi.ArityFlag:
				table[name] = flagOpt
			case awsapi.ArityOne:
				table[name] = valueOpt
			case awsapi.ArityOptional:
				table[name] = optionalOpt
			case awsapi.ArityZeroOrMore:
				table[name] = anyOpt
			case awsapi.ArityOneOrMore:
				table[name] = listOpt
			default:
				return nil, fmt.Errorf("aws %s %s: option %s has arity %d", service, command, name, a)
			}
		}
	}
	// Only real commands are cached: the keys of unknown ones are chosen
	// by callers and would grow the cache without bound.
	if ok {
		commandTables.Store(key, table)
	}
	return table, nil
}
