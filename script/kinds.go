package script

// kind is the analyzer's own name for a node type of tree-sitter-python's
// grammar. Symbols are mapped by name, so every alias tree-sitter gives a
// node type (keyword_identifier shows up as identifier, for example) lands
// on the same kind.
type kind uint8

const (
	kOther kind = iota
	kError
	kIdentifier
	kCall
	kArgumentList
	kKeywordArgument
	kListSplat
	kDictionarySplat
	kAttribute
	kString
	kStringStart
	kStringContent
	kStringEnd
	kInterpolation
	kConcatenatedString
	kComment
	kDecorator
	kImport
	kImportFrom
	kFutureImport
	kAliasedImport
	kDottedName
	kRelativeImport
	kWildcardImport
	kForStatement
	kForInClause
	kList
	kTuple
	kDictionary
	kPair
	kInteger
	kFloat
	kTrue
	kFalse
	kNone
	kUnaryOperator
	kParenthesized
	kFunctionDefinition
	kClassDefinition
	kLambda
	kListComprehension
	kSetComprehension
	kDictComprehension
	kGeneratorExpression
	kBlock
	kModule
	kAssignment
	kAugmentedAssignment
	kNamedExpression
	kAsPattern
	kWithItem
	kExceptClause
	kDeleteStatement
	kGlobalStatement
	kNonlocalStatement
	kParameters
	kLambdaParameters
	kCasePattern
	kKeywordPattern
	kClassPattern
	kTypeParameter
	kTypeAlias
	kPython2 // exec_statement, print_statement, chevron: Python 2 syntax
	kEscapeSequence
	kLineContinuation
	kAsync // the anonymous "async" keyword
	kMinus // the anonymous "-" token
	kPlus  // the anonymous "+" token
	kCount
)

var kindNames = map[string]kind{
	"ERROR":                    kError,
	"identifier":               kIdentifier,
	"call":                     kCall,
	"argument_list":            kArgumentList,
	"keyword_argument":         kKeywordArgument,
	"list_splat":               kListSplat,
	"dictionary_splat":         kDictionarySplat,
	"attribute":                kAttribute,
	"string":                   kString,
	"string_start":             kStringStart,
	"string_content":           kStringContent,
	"string_end":               kStringEnd,
	"interpolation":            kInterpolation,
	"concatenated_string":      kConcatenatedString,
	"comment":                  kComment,
	"decorator":                kDecorator,
	"import_statement":         kImport,
	"import_from_statement":    kImportFrom,
	"future_import_statement":  kFutureImport,
	"aliased_import":           kAliasedImport,
	"dotted_name":              kDottedName,
	"relative_import":          kRelativeImport,
	"wildcard_import":          kWildcardImport,
	"for_statement":            kForStatement,
	"for_in_clause":            kForInClause,
	"list":                     kList,
	"tuple":                    kTuple,
	"dictionary":               kDictionary,
	"pair":                     kPair,
	"integer":                  kInteger,
	"float":                    kFloat,
	"true":                     kTrue,
	"false":                    kFalse,
	"none":                     kNone,
	"unary_operator":           kUnaryOperator,
	"parenthesized_expression": kParenthesized,
	"function_definition":      kFunctionDefinition,
	"class_definition":         kClassDefinition,
	"lambda":                   kLambda,
	"list_comprehension":       kListComprehension,
	"set_comprehension":        kSetComprehension,
	"dictionary_comprehension": kDictComprehension,
	"generator_expression":     kGeneratorExpression,
	"block":                    kBlock,
	"module":                   kModule,
	"assignment":               kAssignment,
	"augmented_assignment":     kAugmentedAssignment,
	"named_expression":         kNamedExpression,
	"as_pattern":               kAsPattern,
	"with_item":                kWithItem,
	"except_clause":            kExceptClause,
	"delete_statement":         kDeleteStatement,
	"global_statement":         kGlobalStatement,
	"nonlocal_statement":       kNonlocalStatement,
	"parameters":               kParameters,
	"lambda_parameters":        kLambdaParameters,
	"case_pattern":             kCasePattern,
	"keyword_pattern":          kKeywordPattern,
	"class_pattern":            kClassPattern,
	"type_parameter":           kTypeParameter,
	"type_alias_statement":     kTypeAlias,
	"exec_statement":           kPython2,
	"print_statement":          kPython2,
	"chevron":                  kPython2,
	"escape_sequence":          kEscapeSequence,
	"line_continuation":        kLineContinuation,
}

// anonymous tokens the analysis needs to recognise.
var anonNames = map[string]kind{
	"async": kAsync,
	"-":     kMinus,
	"+":     kPlus,
}

// grammar holds the symbol and field tables of the Python grammar,
// computed once; it is immutable afterwards.
type grammar struct {
	kinds []kind // by symbol id; ERROR is 0xFFFF
	named []bool // by symbol id
	// names of the node kinds readOnly looks at, by symbol id.
	names []string

	fFunction, fArguments, fName, fValue, fAttribute, fObject, fLeft,
	fRight, fBody, fAlias, fModuleName, fDefinition, fOperator,
	fArgument, fKey, fCondition uint16
}

var gram = newGrammar()

func newGrammar() *grammar {
	g := &grammar{kinds: make([]kind, 1<<16), named: make([]bool, 1<<16), names: make([]string, 1<<16)}
	g.named[0xFFFF] = true
	g.names[0xFFFF] = "ERROR"
	n := language.NodeKindCount()
	for id := uint32(0); id < n; id++ {
		name := language.NodeKindForId(uint16(id))
		g.names[id] = name
		g.named[id] = language.NodeKindIsNamed(uint16(id))
		if g.named[id] {
			if k, ok := kindNames[name]; ok {
				g.kinds[id] = k
			}
		} else if k, ok := anonNames[name]; ok {
			g.kinds[id] = k
		}
	}
	g.kinds[0xFFFF] = kError
	f := func(name string) uint16 {
		id := language.FieldIdForName(name)
		if id == 0 {
			panic("script: tree-sitter-python has no field " + name)
		}
		return id
	}
	g.fFunction = f("function")
	g.fArguments = f("arguments")
	g.fName = f("name")
	g.fValue = f("value")
	g.fAttribute = f("attribute")
	g.fObject = f("object")
	g.fLeft = f("left")
	g.fRight = f("right")
	g.fBody = f("body")
	g.fAlias = f("alias")
	g.fModuleName = f("module_name")
	g.fDefinition = f("definition")
	g.fOperator = f("operator")
	g.fArgument = f("argument")
	g.fKey = f("key")
	g.fCondition = f("condition")
	return g
}
