package script

// forbiddenNames are built-in names (and module names) that run code the
// analyzer cannot see or look names up from strings. Used as a name anywhere
// (called, passed, assigned, shadowed) they make the analysis incomplete
// with the reason "forbidden_builtin:<name>".
var forbiddenNames = map[string]bool{
	"eval": true, "exec": true, "compile": true, "__import__": true,
	"importlib": true, "builtins": true, "__builtins__": true,
	"globals": true, "locals": true, "vars": true,
	"getattr": true, "setattr": true, "delattr": true,
	"open": true, "breakpoint": true, "help": true, "sys": true,
}

// neverImport are modules no configuration may allow: each reaches the
// interpreter's internals, the file system, processes or the network.
var neverImport = map[string]bool{
	"os": true, "sys": true, "subprocess": true, "socket": true,
	"importlib": true, "ctypes": true, "builtins": true, "boto3": true,
	"botocore": true, "inspect": true, "gc": true, "types": true,
	"code": true, "codeop": true, "runpy": true, "pickle": true,
	"marshal": true, "shutil": true, "pathlib": true, "io": true,
	"threading": true, "_thread": true, "multiprocessing": true,
	"signal": true, "pty": true, "posix": true, "nt": true, "ast": true,
	"traceback": true, "pdb": true, "bdb": true, "trace": true,
	"weakref": true, "operator": true, "string": true, "typing": true,
	"annotationlib": true, "dataclasses": true, "copyreg": true,
	"__main__": true, "site": true, "sysconfig": true, "urllib": true,
	"http": true, "ssl": true, "select": true, "selectors": true,
	"zipimport": true, "pkgutil": true,
}

// blockedAttributes are attribute names that hand out frames, code objects,
// globals or the modules that do, or that start processes or network
// connections. They are refused on any object wherever an attribute is
// looked up by name: obj.<name>, from m import <name>, and class patterns
// case C(<name>=x). The reason is "attribute:<name>".
var blockedAttributes = map[string]bool{
	// frames, code objects and generator internals: f_globals leads to
	// call_boto3 without ever naming it.
	"f_globals": true, "f_locals": true, "f_builtins": true, "f_back": true,
	"f_code": true, "f_trace": true, "tb_frame": true, "tb_next": true,
	"gi_frame": true, "gi_code": true, "gi_yieldfrom": true,
	"cr_frame": true, "cr_code": true, "cr_await": true, "cr_origin": true,
	"ag_frame": true, "ag_code": true, "ag_await": true,
	"func_globals": true, "func_code": true, "get_stack": true,
	"print_stack": true, "get_coro": true,
	// modules that reach the interpreter's internals, whatever object
	// carries them (asyncio.sys, collections._sys, datetime.sys, …).
	"sys": true, "_sys": true, "modules": true, "os": true, "_os": true,
	"builtins": true, "inspect": true, "gc": true, "importlib": true,
	"traceback": true, "types": true, "_getframe": true,
	// string annotations evaluated as code: singledispatch's register reads
	// a function's annotations with typing.get_type_hints, which evals
	// them in the function's globals (def f(x: "exec(...)")).
	"singledispatch": true, "singledispatchmethod": true,
	"get_type_hints": true,
	// getattr and setattr by strings the caller passes: update_wrapper(w,
	// obj, assigned=("cr_frame",)) copies obj.cr_frame onto w.
	"update_wrapper": true, "wraps": true,
	// processes and network through asyncio.
	"create_subprocess_exec": true, "create_subprocess_shell": true,
	"subprocess_exec": true, "subprocess_shell": true,
	"open_connection": true, "open_unix_connection": true,
	"start_server": true, "start_unix_server": true,
	"create_connection": true, "create_server": true,
	"create_unix_connection": true, "create_unix_server": true,
	"create_datagram_endpoint": true, "connect_read_pipe": true,
	"connect_write_pipe": true, "sock_connect": true, "getaddrinfo": true,
	"run_in_executor": true, "set_default_executor": true,
}

// allowedDunderNames are the dunder names a script may use as a plain name.
var allowedDunderNames = map[string]bool{"__name__": true}

// allowedDunderAttributes are the dunder attributes a script may read:
// strings, and the constructor for super().__init__(...).
var allowedDunderAttributes = map[string]bool{
	"__name__": true, "__doc__": true, "__init__": true,
}

// allowedDunderMethods are the dunder methods a class body may define. None
// of them changes how attributes, instance checks or class patterns are
// resolved (__getattr__, __instancecheck__, __match_args__, __set_name__,
// __init_subclass__, __class_getitem__ and __new__ would).
var allowedDunderMethods = map[string]bool{
	"__init__": true, "__post_init__": true, "__repr__": true,
	"__str__": true, "__format__": true, "__eq__": true, "__ne__": true,
	"__lt__": true, "__le__": true, "__gt__": true, "__ge__": true,
	"__hash__": true, "__bool__": true, "__len__": true, "__iter__": true,
	"__next__": true, "__aiter__": true, "__anext__": true,
	"__contains__": true, "__getitem__": true, "__setitem__": true,
	"__delitem__": true, "__enter__": true, "__exit__": true,
	"__aenter__": true, "__aexit__": true, "__add__": true,
	"__sub__": true, "__mul__": true, "__truediv__": true,
	"__floordiv__": true, "__mod__": true, "__neg__": true,
	"__abs__": true, "__int__": true, "__float__": true,
}

func isDunder(s string) bool {
	return len(s) > 4 && s[:2] == "__" && s[len(s)-2:] == "__"
}

func isASCIIIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// allowedFutures are the __future__ features a script may import: those
// that change nothing in Python 3 or only defer annotations.
// barry_as_FLUFL, for one, changes how CPython parses != and <>.
var allowedFutures = map[string]bool{
	"annotations": true, "generator_stop": true, "division": true,
	"absolute_import": true, "print_function": true,
	"unicode_literals": true, "with_statement": true,
	"nested_scopes": true, "generators": true,
}

// typingNames are what a script may take from typing with from typing
// import ...: annotations only. typing itself stays refused (import
// typing, and every other name: get_type_hints evaluates string
// annotations in a function's globals, NamedTuple and TypedDict process
// them).
var typingNames = map[string]bool{
	"Any": true, "Awaitable": true, "Callable": true, "Dict": true,
	"FrozenSet": true, "Iterable": true, "Iterator": true, "List": true,
	"Literal": true, "Mapping": true, "Optional": true, "Sequence": true,
	"Set": true, "Tuple": true, "Union": true, "cast": true,
	"TYPE_CHECKING": true,
}
