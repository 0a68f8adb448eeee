package authz

import (
	"github.com/mcpguard/mcpguard/script"
)

// ScriptAnalyzer is the static analysis of aws___run_script code; a
// *script.Analyzer is one.
type ScriptAnalyzer interface {
	Analyze(code string) script.Analysis
}

func defaultScriptAnalyzer() (ScriptAnalyzer, error) {
	return script.New(script.DefaultLimits())
}

// fromScript computes context.aws for the arguments of a run_script call.
func (a *awsAnalysis) fromScript(args map[string]any, region string) *AWSContext {
	v, ok := args["code"]
	if !ok {
		return incomplete(ReasonCodeMissing)
	}
	code, ok := v.(string)
	if !ok {
		return incomplete(ReasonCodeNotString)
	}
	an := a.script.Analyze(code)
	calls := make([]AWSCall, len(an.Calls))
	for i, c := range an.Calls {
		r := c.Region
		if r == "" {
			r = region
		}
		calls[i] = AWSCall{Service: c.Service, Operation: c.Operation, Region: r}
	}
	reasons := append([]string(nil), an.Reasons...)
	if !an.Complete && len(reasons) == 0 {
		// An incomplete analysis always says why; never let a silent one
		// look complete.
		reasons = []string{"incomplete"}
	}
	return a.build(calls, an.Complete && len(an.Reasons) == 0, reasons)
}
