package awsapi

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
)

//go:embed cliopts.json.gz
var cliOptsGz []byte

// OptionArity is how many words an AWS CLI option takes, as the option's
// argparse action reads them.
type OptionArity uint8

// The arities argparse gives the CLI's options.
const (
	// ArityFlag takes no value (store_true, store_false: --dry-run and
	// --no-dry-run).
	ArityFlag OptionArity = iota
	// ArityOne takes exactly one word.
	ArityOne
	// ArityOptional takes the next word when it is not an option (nargs '?').
	ArityOptional
	// ArityZeroOrMore takes every word up to the next option (nargs '*').
	ArityZeroOrMore
	// ArityOneOrMore takes one or more words up to the next option (nargs '+').
	ArityOneOrMore
)

// CommandOptions are the long options of one AWS CLI command ("--dry-run",
// "--instance-ids"), as the CLI builds its parser for the command: the
// operation's input members, the CLI's own additions (--cli-input-json,
// --generate-cli-skeleton, the pagination options) and every
// customization. The map is shared: do not modify it.
type CommandOptions map[string]OptionArity

// cliOptsFile is cliopts.json.gz: per CLI service name, the service's
// option names with their arities ("dry-run=0") interned in one sorted
// list, and per command the indexes of its options.
type cliOptsFile struct {
	Generated string                     `json:"generated"`
	AWSCLI    string                     `json:"awscli"`
	Services  map[string]json.RawMessage `json:"services"`
}

type cliOptsService struct {
	Options  []string         `json:"options"`
	Commands map[string][]int `json:"commands"`
}

// cliOpts decodes the embedded file's outer layer once; each service's
// commands are decoded the first time one of them is asked for, so a
// gateway pays only for the services its callers use.
type cliOpts struct {
	file cliOptsFile
	mu   sync.Mutex
	svc  map[string]map[string]CommandOptions
}

var defaultCLIOpts = sync.OnceValues(func() (*cliOpts, error) { return decodeCLIOpts(cliOptsGz) })

func decodeCLIOpts(gz []byte) (*cliOpts, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("decode CLI options: %w", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("decode CLI options: %w", err)
	}
	o := &cliOpts{svc: map[string]map[string]CommandOptions{}}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o.file); err != nil {
		return nil, fmt.Errorf("decode CLI options: %w", err)
	}
	return o, nil
}

func (o *cliOpts) service(name string) (map[string]CommandOptions, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if s, ok := o.svc[name]; ok {
		return s, nil
	}
	raw, ok := o.file.Services[name]
	if !ok {
		// Not cached: the names of unknown services are the caller's
		// choice and would grow the map without bound.
		return nil, nil
	}
	var sd cliOptsService
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sd); err != nil {
		return nil, fmt.Errorf("decode CLI options of %s: %w", name, err)
	}
	names := make([]string, len(sd.Options))
	arities := make([]OptionArity, len(sd.Options))
	for i, e := range sd.Options {
		n, a, ok := strings.Cut(e, "=")
		if !ok || n == "" {
			return nil, fmt.Errorf("decode CLI options of %s: entry %q", name, e)
		}
		switch a {
		case "0":
			arities[i] = ArityFlag
		case "1":
			arities[i] = ArityOne
		case "?":
			arities[i] = ArityOptional
		case "*":
			arities[i] = ArityZeroOrMore
		case "+":
			arities[i] = ArityOneOrMore
		default:
			return nil, fmt.Errorf("decode CLI options of %s: --%s has arity %q", name, n, a)
		}
		names[i] = "--" + n
	}
	cmds := make(map[string]CommandOptions, len(sd.Commands))
	for cmd, idx := range sd.Commands {
		m := make(CommandOptions, len(idx))
		for _, i := range idx {
			if i < 0 || i >= len(names) {
				return nil, fmt.Errorf("decode CLI options of %s %s: index %d out of range", name, cmd, i)
			}
			if _, dup := m[names[i]]; dup {
				return nil, fmt.Errorf("decode CLI options of %s %s: %s listed twice", name, cmd, names[i])
			}
			m[names[i]] = arities[i]
		}
		cmds[cmd] = m
	}
	o.svc[name] = cmds
	return cmds, nil
}

// CLIOptions returns the options of the AWS CLI command `aws <service>
// <command>` (CLI names: "s3api", "put-object"), and false for a command
// the CLI does not have or that only groups other commands (`aws ec2
// wait`). The high-level `aws s3` commands are not service commands; see
// S3Command. An error means the embedded file is corrupt, which a test
// rules out.
func CLIOptions(service, command string) (CommandOptions, bool, error) {
	o, err := defaultCLIOpts()
	if err != nil {
		return nil, false, err
	}
	cmds, err := o.service(service)
	if err != nil {
		return nil, false, err
	}
	opts, ok := cmds[command]
	return opts, ok, nil
}

// CLIOptionsVersion is the awscli version and generation date of the
// embedded option tables.
func CLIOptionsVersion() (awscli, generated string, err error) {
	o, err := defaultCLIOpts()
	if err != nil {
		return "", "", err
	}
	return o.file.AWSCLI, o.file.Generated, nil
}
