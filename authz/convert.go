package authz

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/cedar-policy/cedar-go/types"
)

// maxDepth bounds the nesting of a converted JSON value. Cedar evaluates
// records recursively; a hostile argument nested thousands of levels deep
// must not cost more than a refusal.
const maxDepth = 32

// errTooDeep reports a value nested deeper than maxDepth.
var errTooDeep = errors.New("value nested too deeply")

// toCedar converts a decoded JSON value (as produced by encoding/json, with or
// without UseNumber) to a Cedar value. present is false for null, which has
// no Cedar counterpart: a null member or element is left out, so policies see
// it as absent.
//
//   - string → String, bool → Bool
//   - an integer literal in int64 range → Long
//   - any other number → decimal when it is exactly representable with at
//     most four fractional digits, else the String of its literal
//   - array → Set (nulls dropped), object → Record (null members dropped)
func toCedar(v any, depth int) (val types.Value, present bool, err error) {
	if depth > maxDepth {
		return nil, false, errTooDeep
	}
	switch v := v.(type) {
	case nil:
		return nil, false, nil
	case string:
		return types.String(v), true, nil
	case bool:
		return types.Boolean(v), true, nil
	case json.Number:
		return numberValue(string(v)), true, nil
	case float64:
		return floatValue(v), true, nil
	case int:
		return types.Long(v), true, nil
	case int64:
		return types.Long(v), true, nil
	case []string:
		vals := make([]types.Value, len(v))
		for i, s := range v {
			vals[i] = types.String(s)
		}
		return types.NewSet(vals...), true, nil
	case []any:
		vals := make([]types.Value, 0, len(v))
		for _, e := range v {
			cv, ok, err := toCedar(e, depth+1)
			if err != nil {
				return nil, false, err
			}
			if ok {
				vals = append(vals, cv)
			}
		}
		return types.NewSet(vals...), true, nil
	case map[string]any:
		rec, err := toRecord(v, depth+1)
		if err != nil {
			return nil, false, err
		}
		return rec, true, nil
	}
	return nil, false, fmt.Errorf("convert value: unsupported type %T", v)
}

// toRecord converts a JSON object to a Cedar record, leaving out null
// members.
func toRecord(m map[string]any, depth int) (types.Record, error) {
	if depth > maxDepth {
		return types.Record{}, errTooDeep
	}
	rm := make(types.RecordMap, len(m))
	for k, e := range m {
		cv, ok, err := toCedar(e, depth)
		if err != nil {
			return types.Record{}, err
		}
		if ok {
			rm[types.String(k)] = cv
		}
	}
	return types.NewRecord(rm), nil
}

// floatValue converts a float64 (claims decoded without UseNumber): whole
// values in int64 range become Long, so an exp or iat claim compares as the
// integer it was written as; the rest follow the number-literal rules.
func floatValue(f float64) types.Value {
	if !math.IsInf(f, 0) && !math.IsNaN(f) && f == math.Trunc(f) && f >= -(1<<63) && f < 1<<63 {
		return types.Long(int64(f))
	}
	return numberValue(strconv.FormatFloat(f, 'g', -1, 64))
}

// numberValue converts a JSON number literal. It never fails: a literal that
// is neither a Long nor an exact decimal is kept as the String of its text,
// so no digit is silently lost or rounded.
func numberValue(lit string) types.Value {
	if isIntegerLiteral(lit) {
		if n, err := strconv.ParseInt(lit, 10, 64); err == nil {
			return types.Long(n)
		}
		return types.String(lit)
	}
	if scaled, ok := scaledDecimal(lit); ok {
		if d, err := types.NewDecimal(scaled, -4); err == nil {
			return d
		}
	}
	return types.String(lit)
}

// isIntegerLiteral reports whether lit is an optional minus sign followed by
// digits only (no fraction, no exponent).
func isIntegerLiteral(lit string) bool {
	s := strings.TrimPrefix(lit, "-")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// scaledDecimal parses a JSON number literal and returns its value times
// 10^4 when that is an integer that fits in int64. It works on the digits
// directly, so an exponent such as 1e999999999 costs nothing.
func scaledDecimal(lit string) (int64, bool) {
	s := lit
	neg := false
	if strings.HasPrefix(s, "-") {
		neg = true
		s = s[1:]
	}
	mant, exp := s, ""
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant, exp = s[:i], s[i+1:]
	}
	intPart, frac := mant, ""
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		intPart, frac = mant[:i], mant[i+1:]
		if frac == "" {
			return 0, false
		}
	}
	if intPart == "" || !allDigits(intPart) || !allDigits(frac) {
		return 0, false
	}
	e := 0
	if exp != "" {
		es := strings.TrimPrefix(strings.TrimPrefix(exp, "+"), "-")
		if es == "" || !allDigits(es) {
			return 0, false
		}
		es = strings.TrimLeft(es, "0")
		if len(es) > 4 {
			// Only a zero mantissa could survive such an exponent; keep the
			// literal rather than guess.
			return 0, false
		}
		if es != "" {
			e, _ = strconv.Atoi(es)
		}
		if strings.HasPrefix(exp, "-") {
			e = -e
		}
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	// value = digits × 10^(e − len(frac)); scaled by 10^4.
	shift := e - len(frac) + 4
	for digits != "" && shift < 0 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		shift++
	}
	if digits == "" {
		return 0, true
	}
	if shift < 0 || len(digits)+shift > 19 {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, false
	}
	for range shift {
		if n > math.MaxUint64/10 {
			return 0, false
		}
		n *= 10
	}
	if n > math.MaxInt64 {
		return 0, false
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
