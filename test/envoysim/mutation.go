package envoysim

import (
	"fmt"
	"regexp"
	"strings"

	mutationrulesv3 "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Envoy's HCM defaults for header limits (max_request_headers_kb 60,
// max_headers_count 100), which ext_proc checks mutations against
// (mutation_utils.cc responseHeaderSizeCheck / headerMutationResultCheck).
const (
	maxHeadersCount = 100
	maxHeadersBytes = 60 * 1024
)

type checkOp int

const (
	opSet checkOp = iota
	opAppend
	opRemove
)

type checkResult int

const (
	checkOK checkResult = iota
	checkIgnore
	checkFail
)

// checker is Envoy's Filters::Common::MutationRules::Checker
// (source/extensions/filters/common/mutation_rules/mutation_rules.cc).
type checker struct {
	allowAllRouting, allowEnvoy, disallowSystem, disallowAll, disallowIsError bool
	allowExpr, disallowExpr                                                   *regexp.Regexp
}

func boolValue(b *wrapperspb.BoolValue) bool { return b != nil && b.GetValue() }

func newChecker(r *mutationrulesv3.HeaderMutationRules) (*checker, error) {
	c := &checker{
		allowAllRouting: boolValue(r.GetAllowAllRouting()),
		allowEnvoy:      boolValue(r.GetAllowEnvoy()),
		disallowSystem:  boolValue(r.GetDisallowSystem()),
		disallowAll:     boolValue(r.GetDisallowAll()),
		disallowIsError: boolValue(r.GetDisallowIsError()),
	}
	var err error
	// Envoy's RE2 matcher does a full match.
	if re := r.GetAllowExpression(); re != nil {
		if c.allowExpr, err = regexp.Compile(`^(?:` + re.GetRegex() + `)$`); err != nil {
			return nil, fmt.Errorf("compile allow_expression: %w", err)
		}
	}
	if re := r.GetDisallowExpression(); re != nil {
		if c.disallowExpr, err = regexp.Compile(`^(?:` + re.GetRegex() + `)$`); err != nil {
			return nil, fmt.Errorf("compile disallow_expression: %w", err)
		}
	}
	return c, nil
}

// permissiveChecker is the fixed rule set of ext_proc.cc's
// ImmediateMutationChecker (allow_all_routing and allow_envoy). Envoy 1.36+
// no longer applies it to a processor's ImmediateResponse headers (those
// go through the filter's mutation_rules); the simulator uses it only for
// local replies Envoy builds itself, which carry no processor mutation.
func permissiveChecker() *checker {
	return &checker{allowAllRouting: true, allowEnvoy: true}
}

// isRoutingHeader lists Checker's "extra routing headers": host (HostLegacy),
// :authority (Host), :method and :scheme. :path is not among them.
func isRoutingHeader(name string) bool {
	switch name {
	case "host", ":authority", ":method", ":scheme":
		return true
	}
	return false
}

func (c *checker) check(op checkOp, name, value string) checkResult {
	if c.allowed(op, name) && (op == opRemove || validValue(name, value)) {
		return checkOK
	}
	if c.disallowIsError {
		return checkFail
	}
	return checkIgnore
}

func (c *checker) allowed(op checkOp, name string) bool {
	// "No matter what, you can't remove the "host" or any ":" headers."
	if op == opRemove && (strings.HasPrefix(name, ":") || name == "host") {
		return false
	}
	if c.disallowExpr != nil && c.disallowExpr.MatchString(name) {
		return false
	}
	if c.allowExpr != nil && c.allowExpr.MatchString(name) {
		return true
	}
	if c.disallowAll {
		return false
	}
	if !c.allowAllRouting && isRoutingHeader(name) {
		return false
	}
	if strings.HasPrefix(name, ":") && (op == opAppend || c.disallowSystem) {
		return false
	}
	if !c.allowEnvoy && strings.HasPrefix(name, "x-envoy") {
		return false
	}
	return true
}

// validValue is Checker::isValidValue.
func validValue(name, value string) bool {
	if !strings.HasPrefix(name, ":") && !headerValueIsValid(value) {
		return false
	}
	switch name {
	case "host", ":authority":
		return authorityIsValid(value)
	case ":scheme":
		return value == "http" || value == "https"
	case ":status":
		n := 0
		if value == "" {
			return false
		}
		for _, r := range value {
			if r < '0' || r > '9' {
				return false
			}
			n = n*10 + int(r-'0')
			if n > 999 {
				return false
			}
		}
		return n >= 200
	}
	return true
}

// mutationError is a mutation Envoy rejects with an error: the filter answers
// the client with a local reply whose details are the message.
type mutationError struct{ msg string }

func (e *mutationError) Error() string { return e.msg }

// applyHeaderMutation is MutationUtils::applyHeaderMutations
// (source/extensions/filters/http/ext_proc/mutation_utils.cc). It returns the
// number of rejected (ignored) mutations and a *mutationError when Envoy
// would fail the request.
//
// Semantics reproduced exactly:
//   - removals are applied before sets;
//   - only HeaderValue.raw_value is read (runtime
//     envoy.reloadable_features.send_header_raw_value, default on); a value set
//     only in HeaderValue.value therefore sets an empty header;
//   - setting both value and raw_value is an error;
//   - only the deprecated HeaderValueOption.append is honoured, default false
//     (base.proto: "The external processor service [has] default value (false)
//     for this field"); append_action is ignored by ext_proc (envoy issue
//     #36982; PRs #29862 and #37139 closed unmerged);
//   - content-length sets are skipped when the body mode removes the header;
//   - ":method" may be set when the response is CONTINUE_AND_REPLACE.
func applyHeaderMutation(m *extprocv3.HeaderMutation, hm *headerMap, replacing bool, c *checker, skipContentLength bool) (int, error) {
	if m == nil {
		return 0, nil
	}
	rejected := 0
	if len(m.GetRemoveHeaders()) > maxHeadersCount || len(m.GetSetHeaders()) > maxHeadersCount {
		return 1, &mutationError{fmt.Sprintf("Header mutation remove header count %d or set header count %d exceed the HCM header countlimit %d",
			len(m.GetRemoveHeaders()), len(m.GetSetHeaders()), maxHeadersCount)}
	}
	for _, name := range m.GetRemoveHeaders() {
		if !headerNameIsValid(name) {
			return rejected + 1, &mutationError{"Invalid character in remove_headers mutation."}
		}
		key := strings.ToLower(name)
		switch c.check(opRemove, key, "") {
		case checkOK:
			hm.remove(key)
		case checkIgnore:
			rejected++
		case checkFail:
			return rejected + 1, &mutationError{"Invalid attempt to remove " + key}
		}
	}
	for _, opt := range m.GetSetHeaders() {
		if opt.GetHeader() == nil {
			continue
		}
		h := opt.GetHeader()
		if skipContentLength && strings.EqualFold(h.GetKey(), "content-length") {
			continue
		}
		if h.GetValue() != "" && len(h.GetRawValue()) > 0 {
			return rejected + 1, &mutationError{"Only one of value or raw_value in the HeaderValue message should be set."}
		}
		value := string(h.GetRawValue())
		if !headerNameIsValid(h.GetKey()) || !headerValueIsValid(value) {
			return rejected + 1, &mutationError{"Invalid character in set_headers mutation."}
		}
		key := strings.ToLower(h.GetKey())
		appendValue := boolValue(opt.GetAppend()) //nolint:staticcheck // Envoy still honours the deprecated append field, so the stand-in must too
		op := opSet
		if appendValue && hm.has(key) {
			op = opAppend
		}
		res := c.check(op, key, value)
		if replacing && key == ":method" {
			res = checkOK
		}
		switch res {
		case checkOK:
			if appendValue {
				hm.add(key, value)
			} else {
				hm.set(key, value)
			}
		case checkIgnore:
			rejected++
		case checkFail:
			return rejected + 1, &mutationError{"Invalid attempt to modify " + key}
		}
	}
	if len(hm.entries) > maxHeadersCount || hm.byteSize() > maxHeadersBytes {
		return rejected + 1, &mutationError{fmt.Sprintf("Header mutation causes end result header count %d or header size %d bytes, exceeding the count limit %d or the size limit %d kilobytes",
			len(hm.entries), hm.byteSize(), maxHeadersCount, maxHeadersBytes/1024)}
	}
	return rejected, nil
}

// applyBodyMutation is MutationUtils::applyBodyMutations: body replaces,
// clear_body empties, anything else (streamed_response) leaves the buffer.
func applyBodyMutation(m *extprocv3.BodyMutation, body []byte) []byte {
	switch v := m.GetMutation().(type) {
	case *extprocv3.BodyMutation_Body:
		return append([]byte(nil), v.Body...)
	case *extprocv3.BodyMutation_ClearBody:
		if v.ClearBody {
			return nil
		}
	}
	return body
}

// authorityIsValid approximates HeaderUtility::authorityIsValid: a non-empty
// host[:port] made of unreserved, sub-delims, ':', '@', '[', ']' and '%'.
func authorityIsValid(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-._~!$&'()*+,;=:@[]%", c) >= 0:
		default:
			return false
		}
	}
	return true
}
