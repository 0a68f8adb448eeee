package awsapi

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
)

//go:embed services.json.gz
var servicesGz []byte

// Catalog is the decoded service data. It is immutable and safe for
// concurrent use.
type Catalog struct {
	// Botocore and AWSCLI are the versions the data was generated from;
	// Generated is the date of the run (YYYY-MM-DD).
	Botocore, AWSCLI, Generated string

	services map[string]*Service
	byCLI    map[string]*Service
	s3opts   map[string]map[string]arity
}

// Service is one boto3 service.
type Service struct {
	// Name is the boto3 service name ("stepfunctions").
	Name string
	// Prefix is the IAM service prefix of its actions ("states").
	Prefix string
	// CLIName is the AWS CLI's name for it ("stepfunctions", "s3api" for
	// s3); "" when the CLI does not offer the service.
	CLIName string

	ops    []string          // sorted PascalCase operations
	cliOps map[string]string // CLI operation name → operation
	opCLI  map[string]string // operation → its main CLI name
}

// arity is how many words an option takes: 0, a count, or -1 for an
// optional value and -2 for one or more, which S3Command refuses.
type arity int

const (
	arityOptional arity = -1
	arityMany     arity = -2
)

type fileData struct {
	Generated string                     `json:"generated"`
	Botocore  string                     `json:"botocore"`
	AWSCLI    string                     `json:"awscli"`
	S3Options map[string]map[string]any  `json:"s3_options"`
	Services  map[string]fileServiceData `json:"services"`
}

type fileServiceData struct {
	Prefix   string            `json:"prefix"`
	Ops      []string          `json:"ops"`
	CLI      string            `json:"cli"`
	CLIOps   []string          `json:"cli_ops"`
	CLIExtra map[string]string `json:"cli_extra"`
}

var defaultCatalog = sync.OnceValues(func() (*Catalog, error) { return decode(servicesGz) })

// Default is the catalog embedded in the binary, decoded on first use. An
// error means the embedded file is corrupt, which a test rules out.
func Default() (*Catalog, error) { return defaultCatalog() }

// MustDefault is Default for callers that start up with it: it panics on
// the error Default cannot return for the shipped file.
func MustDefault() *Catalog {
	c, err := Default()
	if err != nil {
		panic(err)
	}
	return c
}

func decode(gz []byte) (*Catalog, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("decode service data: %w", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("decode service data: %w", err)
	}
	var f fileData
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("decode service data: %w", err)
	}
	c := &Catalog{
		Botocore: f.Botocore, AWSCLI: f.AWSCLI, Generated: f.Generated,
		services: make(map[string]*Service, len(f.Services)),
		byCLI:    make(map[string]*Service, len(f.Services)),
		s3opts:   map[string]map[string]arity{},
	}
	for name, sd := range f.Services {
		if sd.Prefix == "" || !slices.IsSorted(sd.Ops) {
			return nil, fmt.Errorf("decode service data: service %q has no prefix or unsorted operations", name)
		}
		if sd.CLIOps != nil && len(sd.CLIOps) != len(sd.Ops) {
			return nil, fmt.Errorf("decode service data: service %q: %d CLI names for %d operations", name, len(sd.CLIOps), len(sd.Ops))
		}
		s := &Service{Name: name, Prefix: sd.Prefix, CLIName: sd.CLI, ops: sd.Ops,
			cliOps: make(map[string]string, len(sd.Ops)+len(sd.CLIExtra)), opCLI: make(map[string]string, len(sd.Ops))}
		for i, cli := range sd.CLIOps {
			if cli != "" {
				s.cliOps[cli] = sd.Ops[i]
				s.opCLI[sd.Ops[i]] = cli
			}
		}
		for cli, op := range sd.CLIExtra {
			s.cliOps[cli] = op
		}
		c.services[name] = s
		if s.CLIName != "" {
			c.byCLI[s.CLIName] = s
		}
	}
	for cmd, opts := range f.S3Options {
		m := make(map[string]arity, len(opts))
		for o, v := range opts {
			switch v := v.(type) {
			case float64:
				m["--"+o] = arity(v)
			case string:
				switch v {
				case "?":
					m["--"+o] = arityOptional
				case "+":
					m["--"+o] = arityMany
				default:
					return nil, fmt.Errorf("decode service data: s3 %s --%s: arity %q", cmd, o, v)
				}
			default:
				return nil, fmt.Errorf("decode service data: s3 %s --%s: arity %v", cmd, o, v)
			}
		}
		c.s3opts[cmd] = m
	}
	return c, nil
}

// Service looks a service up by its boto3 name ("s3", "stepfunctions").
func (c *Catalog) Service(name string) (*Service, bool) {
	s, ok := c.services[name]
	return s, ok
}

// ServiceByCLI looks a service up by its AWS CLI name ("s3api",
// "configservice"). The high-level "s3" command is not a service command;
// see S3Command.
func (c *Catalog) ServiceByCLI(name string) (*Service, bool) {
	s, ok := c.byCLI[name]
	return s, ok
}

// Services lists the boto3 service names, sorted.
func (c *Catalog) Services() []string {
	out := make([]string, 0, len(c.services))
	for n := range c.services {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Action is "<IAM prefix>:<operation>" for a boto3 service and operation,
// and whether botocore knows both. For an unknown service the prefix is the
// service name as given, so a policy still sees what the caller asked for.
func (c *Catalog) Action(service, operation string) (action string, known bool) {
	s, ok := c.services[service]
	if !ok {
		return service + ":" + operation, false
	}
	return s.Prefix + ":" + operation, s.HasOperation(operation)
}

// Operations lists the service's API operations, sorted. The slice is
// shared: do not modify it.
func (s *Service) Operations() []string { return s.ops }

// HasOperation reports whether op (PascalCase, exact case) is one of the
// service's operations.
func (s *Service) HasOperation(op string) bool {
	_, ok := slices.BinarySearch(s.ops, op)
	return ok
}

// Action is "<prefix>:<op>".
func (s *Service) Action(op string) string { return s.Prefix + ":" + op }

// CLIOperation maps an AWS CLI operation name ("list-objects-v2") to the
// API operation it calls ("ListObjectsV2").
func (s *Service) CLIOperation(cli string) (string, bool) {
	op, ok := s.cliOps[cli]
	return op, ok
}

// CLIOperationName is the AWS CLI name of an operation ("list-objects-v2"),
// "" when the CLI does not offer it.
func (s *Service) CLIOperationName(op string) string { return s.opCLI[op] }

// PascalCase spells a CLI operation name the way an API operation is
// spelled ("get-token" → "GetToken"), for commands the model does not know:
// the result names what the caller asked for, not a real operation.
func PascalCase(cli string) string {
	var b strings.Builder
	for _, part := range strings.Split(cli, "-") {
		if part == "" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}
