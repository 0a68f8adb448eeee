// Package script is the static analysis of aws___run_script Python: which
// AWS calls a script makes.
//
// The AWS MCP Server's aws___run_script runs Python in a sandbox whose only
// way to AWS is
//
//	async def call_boto3(*, service_name, operation_name, region_name=None, params=None)
//
// Analyze parses the script with tree-sitter-python (through
// github.com/tree-sitter/go-tree-sitter, cgo) and returns every
// call_boto3(...) call with its literal service, operation, region and
// params. It never returns an error that would let a script through:
// whatever it cannot vouch for makes the analysis incomplete, with reasons.
//
// # What complete means
//
// Complete is true only when every way the code could reach call_boto3 is a
// direct call, call_boto3(...) or await call_boto3(...), anywhere (inside
// asyncio.gather, loops, helper functions, comprehensions, lambdas,
// f-string interpolations), whose service_name and operation_name are plain
// string literals (implicit concatenation "a" "b" and escapes included; no
// f-strings, bytes, +, % or format). region_name must be a literal, None,
// or a loop variable over a literal list or tuple of string literals
// (for r in ["us-east-1", "eu-west-1"], or the same in a comprehension),
// which yields one Call per region; anything else is dynamic_region. params
// never decide completeness: Params is filled when they are a literal dict.
// A call that appears in the code is reported even if it never runs (under
// if False:, or a coroutine never awaited): the analysis over-approximates.
// Text inside strings, comments and docstrings is never code; f-string
// interpolations are. Identifiers are compared after NFKC normalisation, as
// CPython does, so ｅｖａｌ is eval.
//
// # Reasons
//
// Each reason is a short string; Reasons is sorted and deduplicated.
//
//   - parse_error: a tree-sitter ERROR or MISSING node, or an empty
//     recovered block (CPython would refuse the script);
//     python2_syntax: print or exec statements.
//   - parse_timeout, too_large, too_deep, too_many_nodes: Limits reached.
//   - invalid_utf8, nul_byte, bare_carriage_return, encoding_declaration
//     (a PEP 263 cookie other than UTF-8), mixed_indentation (a space
//     before a tab): text that tree-sitter and CPython could read
//     differently.
//   - call_boto3_as_value: the name call_boto3 anywhere but as the function
//     of a call (assigned, passed, stored, returned, in a lambda body as a
//     value, decorated or a decorator, an attribute x.call_boto3, shadowed
//     by def, class, import, parameter, for, with, except, global,
//     nonlocal, :=, del or a match capture).
//   - call_boto3_splat (*args or **kwargs into it),
//     call_boto3_positional_argument, call_boto3_unknown_keyword,
//     call_boto3_duplicate_keyword, missing_service, missing_operation.
//   - dynamic_service, dynamic_operation, dynamic_region.
//   - forbidden_builtin:<name>: eval, exec, compile, __import__, importlib,
//     builtins, __builtins__, globals, locals, vars, getattr, setattr,
//     delattr, open, breakpoint, help, sys used as a name anywhere.
//   - dunder:<name>: a dunder name or attribute other than the name
//     __name__, the attributes __name__, __doc__ and __init__ (for
//     super().__init__()), __future__ in a future import, and the
//     data-model methods a class body may define (__init__, __repr__,
//     __eq__, __len__, __iter__, __enter__, __aexit__, arithmetic, … but
//     not __getattr__, __getattribute__, __instancecheck__, __new__,
//     __init_subclass__, __set_name__, __class_getitem__ or
//     __match_args__, which change how attributes, instance checks or
//     class patterns resolve).
//   - attribute:<name>: an attribute looked up by name (obj.name, from m
//     import name, case C(name=x), case a.name) that hands out frames,
//     code objects or globals (cr_frame, f_globals, gi_frame, tb_frame,
//     get_stack, …), the interpreter's modules (sys, _sys, modules, os,
//     builtins, inspect, gc, importlib, traceback, types), processes or
//     network connections through asyncio (create_subprocess_exec,
//     open_connection, run_in_executor, …), functools.singledispatch (its
//     register evaluates string annotations as code), functools.wraps and
//     update_wrapper (they get and set attributes named by strings), or,
//     on a module and in a
//     from-import, a module that is not allowed (json.codecs,
//     asyncio.events: moduleattrs.go, generated with python3 by
//     TestModuleAttributes -update).
//   - module_as_value:<name>: a name bound by import used other than as
//     the object of an attribute (m = json; f(json)), since a module
//     object passed around escapes the check above.
//   - dynamic_class: the name type other than in type(x): type(name,
//     bases, dict), a subclass of type or type passed around make classes
//     whose dunder methods (__setattr__, __getattr__, …) come from string
//     keys the analysis cannot check.
//   - match_class_positional: case C(x) looks attributes up by the
//     strings of C.__match_args__, which type(name, bases, {...}) sets
//     without naming a dunder.
//   - import:<module>: an import outside Limits.AllowedImports (exact
//     dotted names), import:relative; wildcard_import;
//     import:__future__.<feature> for a future other than those that are
//     no-ops in Python 3 or annotations (barry_as_FLUFL changes parsing).
//   - internal_error: the analyzer itself failed (a recovered panic).
//
// # Imports
//
// DefaultAllowedImports is asyncio, base64, collections, collections.abc,
// datetime, decimal, fractions, functools, itertools, json, math, re,
// statistics, textwrap and time. Deliberately not on it, because each
// turns strings into attribute or name lookups the analysis cannot see:
// typing (get_type_hints evaluates string annotations in the caller's
// globals: def f(x: "call_boto3") hands call_boto3 out; from typing import
// takes Any, Dict, List, Optional, Union and the other annotation names of
// typingNames, but nothing else, and import typing is refused), string
// (Formatter.get_field), operator (attrgetter), dataclasses (builds code
// with exec), and inspect, types, gc, traceback, sys, os, importlib,
// builtins, ctypes, subprocess, socket, boto3 and botocore, which New
// refuses even when configured. A module added to AllowedImports is
// trusted not to hand out such a path through its functions; its module
// attributes are not in moduleattrs.go unless regenerated with it.
//
// # Limits and resources
//
// Scripts over MaxBytes are never handed to tree-sitter. The tree is
// copied out of tree-sitter in one cgo call (mg_flatten in parse.go reads
// tree-sitter's C API directly; TestFlattenMatchesCursor checks it against
// go-tree-sitter's cursor), stopping at MaxNodes or MaxDepth, and the tree
// is freed before the analysis runs in Go. Parsers are kept in a bounded
// free list and freed when the Analyzer is collected. The package's init
// points tree-sitter's allocator at libc's malloc and free directly:
// go-tree-sitter's default is the same functions reached through a cgo
// callback per allocation, which doubles the parse time. Nothing else in
// the process may call go-tree-sitter's SetAllocator.
//
// It must not import extproc, authz or any other mcpguard package: it
// knows Python, not policies.
package script
