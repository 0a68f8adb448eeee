package authz

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cedar-policy/cedar-go/types"

	"github.com/mcpguard/mcpguard/awsapi"
)

// Tool names whose calls reach AWS APIs and therefore get context.aws.
const (
	// ToolRunScript runs Python whose only way to AWS is call_boto3; its
	// code argument is analysed statically.
	ToolRunScript = "aws___run_script"
	// ToolCallAWS is the legacy tool that runs one AWS CLI command (its
	// cli_command argument); the AWS MCP Server removed it on 2026-08-31,
	// the self-hosted AWS API MCP Server still has it.
	ToolCallAWS = "aws___call_aws"
)

// Reasons an AWS analysis is incomplete that authz itself gives (the
// script analyzer gives its own for run_script code).
const (
	ReasonCodeMissing      = "code_missing"
	ReasonCodeNotString    = "code_not_string"
	ReasonCLIParseError    = "cli_parse_error"
	ReasonCLINotString     = "cli_command_not_string"
	ReasonCLIUnmapped      = "cli_command_unmapped"
	ReasonCLIInvalid       = "cli_command_invalid"
	ReasonAnalyzerDisabled = "analyzer_unavailable"
)

// AWSCall is one AWS API call a tool call performs.
type AWSCall struct {
	Service   string `json:"service"`
	Operation string `json:"operation"`
	// Region is the call's region_name or --region, else the upstream's
	// region; "" when neither is known.
	Region string `json:"region,omitempty"`
}

// AWSContext is context.aws: what a tools/call of aws___run_script or
// aws___call_aws will do in AWS, as far as the gateway can tell before it
// runs. It is also reported by `mcpguard authz check` and in the audit
// record.
type AWSContext struct {
	// Actions are "<IAM prefix>:<Operation>", sorted, unique.
	Actions []string `json:"actions"`
	// Services are the IAM prefixes of Actions, sorted, unique: the part
	// of each action before its operation ("states" for a stepfunctions
	// call). A policy bounds every call of a script to services with
	// ["s3"].containsAll(context.aws.services), which Cedar cannot say
	// of Actions or Calls without listing operations.
	Services []string  `json:"services"`
	Calls    []AWSCall `json:"calls"`
	// Regions are the regions of Calls, sorted, unique.
	Regions []string `json:"regions"`
	// Complete is true only when every way the code or command can reach
	// AWS is in Calls.
	Complete bool `json:"complete"`
	// Reasons say why Complete is false (short machine-readable strings).
	Reasons []string `json:"reasons"`
	// Unknown are the Actions botocore does not know.
	Unknown []string `json:"unknown"`
	// ReadOnly is true when the analysis is complete, names at least one
	// action, and every action is known and in the read class.
	ReadOnly bool `json:"read_only"`
}

// AWSOptions configure how context.aws is computed.
type AWSOptions struct {
	// Region is the default region of calls that name none: the signing
	// region of Options.ServerHost. Request.Region overrides it.
	Region string
	// ReadClass decides read_only; nil means awsapi.DefaultReadClass.
	ReadClass *awsapi.ReadClass
	// Catalog holds the service facts; nil means awsapi.Default.
	Catalog *awsapi.Catalog
	// Script analyses run_script code; nil means one with the analyzer's
	// default limits.
	Script ScriptAnalyzer
}

// awsAnalysis holds what context.aws needs, resolved at New.
type awsAnalysis struct {
	region  string
	read    *awsapi.ReadClass
	catalog *awsapi.Catalog
	script  ScriptAnalyzer
	// calls caches mapped tools/calls; it depends only on the fields
	// above, so it lives beside them.
	calls *callCache
}

func newAWSAnalysis(o AWSOptions) (*awsAnalysis, error) {
	a := &awsAnalysis{region: o.Region, read: o.ReadClass, catalog: o.Catalog, script: o.Script, calls: newCallCache()}
	if a.read == nil {
		a.read = awsapi.DefaultReadClass()
	}
	if a.catalog == nil {
		c, err := awsapi.Default()
		if err != nil {
			return nil, err
		}
		a.catalog = c
	}
	if a.script == nil {
		s, err := defaultScriptAnalyzer()
		if err != nil {
			return nil, err
		}
		a.script = s
	}
	return a, nil
}

// fromCLI computes, from one parse of a cli_command argument, the value
// of context.aws_cli (the parsed command, or a record holding only
// parse_error) and context.aws.
func (a *awsAnalysis) fromCLI(v any, region string) (types.Record, *AWSContext) {
	s, ok := v.(string)
	if !ok {
		return types.NewRecord(types.RecordMap{"parse_error": types.String("cli_command is not a string")}), incomplete(ReasonCLINotString)
	}
	c, err := parseAWSCommand(s)
	if err != nil {
		return types.NewRecord(types.RecordMap{"parse_error": types.String(err.Error())}), incomplete(ReasonCLIParseError)
	}
	return commandRecord(c), a.fromCommand(c, region)
}

// fromCommand computes context.aws for a parsed cli_command.
func (a *awsAnalysis) fromCommand(c awsCommand, region string) *AWSContext {
	calls, err := a.catalog.CLICommand(c.Service, c.Operation, c.Rest)
	if err != nil {
		if errors.Is(err, awsapi.ErrUnmapped) {
			return incomplete(ReasonCLIUnmapped)
		}
		return incomplete(ReasonCLIInvalid)
	}
	if c.Region != "" {
		region = c.Region
	}
	out := make([]AWSCall, len(calls))
	for i, cl := range calls {
		out[i] = AWSCall{Service: cl.Service, Operation: cl.Operation, Region: region}
	}
	return a.build(out, true, nil)
}

func incomplete(reasons ...string) *AWSContext {
	return &AWSContext{Actions: []string{}, Services: []string{}, Calls: []AWSCall{}, Regions: []string{}, Reasons: reasons, Unknown: []string{}}
}

// build fills in actions, services, regions, unknown and read_only from
// the calls.
func (a *awsAnalysis) build(calls []AWSCall, complete bool, reasons []string) *AWSContext {
	r := &AWSContext{Calls: calls, Complete: complete, Reasons: reasons,
		Actions: []string{}, Services: []string{}, Regions: []string{}, Unknown: []string{}}
	if r.Reasons == nil {
		r.Reasons = []string{}
	}
	if r.Calls == nil {
		r.Calls = []AWSCall{}
	}
	readOnly := complete && len(calls) > 0
	for _, c := range calls {
		action, known := a.catalog.Action(c.Service, c.Operation)
		r.Actions = append(r.Actions, action)
		// The action is "<prefix>:<operation>"; cutting the operation
		// off its end, rather than the action at its first ':', keeps a
		// service name with a ':' of its own ("s3:x") from passing for
		// another service.
		r.Services = append(r.Services, strings.TrimSuffix(action, ":"+c.Operation))
		if !known {
			r.Unknown = append(r.Unknown, action)
			readOnly = false
		} else if !a.read.ReadOnly(action) {
			readOnly = false
		}
		if c.Region != "" {
			r.Regions = append(r.Regions, c.Region)
		}
	}
	r.ReadOnly = readOnly
	for _, s := range []*[]string{&r.Actions, &r.Services, &r.Regions, &r.Unknown, &r.Reasons} {
		slices.Sort(*s)
		*s = slices.Compact(*s)
	}
	slices.SortFunc(r.Calls, func(x, y AWSCall) int {
		if c := compareStrings(x.Service, y.Service); c != 0 {
			return c
		}
		if c := compareStrings(x.Operation, y.Operation); c != 0 {
			return c
		}
		return compareStrings(x.Region, y.Region)
	})
	r.Calls = slices.Compact(r.Calls)
	return r
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// record is the Cedar value of context.aws.
func (r *AWSContext) record() types.Record {
	calls := make([]types.Value, len(r.Calls))
	for i, c := range r.Calls {
		rm := types.RecordMap{"service": types.String(c.Service), "operation": types.String(c.Operation)}
		if c.Region != "" {
			rm["region"] = types.String(c.Region)
		}
		calls[i] = types.NewRecord(rm)
	}
	return types.NewRecord(types.RecordMap{
		"actions":   stringSet(r.Actions),
		"services":  stringSet(r.Services),
		"calls":     types.NewSet(calls...),
		"regions":   stringSet(r.Regions),
		"complete":  types.Boolean(r.Complete),
		"reasons":   stringSet(r.Reasons),
		"unknown":   stringSet(r.Unknown),
		"read_only": types.Boolean(r.ReadOnly),
	})
}

func stringSet(ss []string) types.Set {
	vals := make([]types.Value, len(ss))
	for i, s := range ss {
		vals[i] = types.String(s)
	}
	return types.NewSet(vals...)
}

// maxRefusedChecks bounds the extra decisions a denial with many actions
// costs to find the ones to blame.
const maxRefusedChecks = 16

// refusedActions decides each action of a denied, complete analysis on its
// own and returns those denied alone. It runs only on a denial.
func (a *Authorizer) refusedActions(s *snapshot, ents *requestEntities, action string, base types.RecordMap, cli *types.Record, aws *AWSContext) []string {
	if !aws.Complete || len(aws.Actions) < 2 || len(aws.Actions) > maxRefusedChecks {
		return nil
	}
	var out []string
	for _, act := range aws.Actions {
		var calls []AWSCall
		for _, c := range aws.Calls {
			if ca, _ := a.aws.catalog.Action(c.Service, c.Operation); ca == act {
				calls = append(calls, c)
			}
		}
		one := a.aws.build(calls, true, nil).record()
		if !a.decide(s, ents, action, recordWith(base, cli, &one, nil)).Allow {
			out = append(out, act)
		}
	}
	return out
}

// maxReasonActions bounds how many actions a denial message names; they
// come from the client's code.
const maxReasonActions = 5

// awsReason says, for a denied message with context.aws, which AWS actions
// or which gaps in the analysis were refused. The text is client-safe: it
// holds the client's own action names (quoted, bounded) and the analyzer's
// fixed reason codes, never policy text.
func (it ItemDecision) awsReason() string {
	if it.AWS == nil {
		return ""
	}
	if !it.AWS.Complete {
		return ": its AWS calls cannot be determined (" + quoteList(it.AWS.Reasons) + ")"
	}
	acts := it.AWSRefused
	if len(acts) == 0 {
		acts = it.AWS.Actions
	}
	if len(acts) == 0 {
		return ": it calls no AWS action"
	}
	return ": AWS action(s) " + quoteList(acts)
}

func quoteList(ss []string) string {
	var b []byte
	for i, s := range ss {
		if i == maxReasonActions {
			b = append(b, fmt.Sprintf(", and %d more", len(ss)-i)...)
			break
		}
		if i > 0 {
			b = append(b, ", "...)
		}
		if len(s) > 100 {
			s = strings.ToValidUTF8(s[:100], "") + "…"
		}
		b = strconv.AppendQuote(b, s)
	}
	return string(b)
}
