"""Reads script paths from argv and prints, per script, whether CPython's
own parser accepts it, the (service, operation) of every call_boto3(...)
call with string-constant keywords, and the names a complete analysis must
never contain ("bad": eval, exec and the other forbidden names, call_boto3
other than called, dunder names and attributes outside the allowed few).
Used by TestCPythonAgrees* to cross-check tree-sitter against CPython."""
import ast
import json
import sys

FORBIDDEN = {"eval", "exec", "compile", "__import__", "importlib", "builtins",
             "__builtins__", "globals", "locals", "vars", "getattr", "setattr",
             "delattr", "open", "breakpoint"}
OK_DUNDER_ATTRS = {"__name__", "__doc__", "__init__"}


def is_dunder(name):
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def bad_names(tree):
    bad = set()
    func_of_call = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    for n in ast.walk(tree):
        if isinstance(n, ast.Name):
            if n.id in FORBIDDEN:
                bad.add(n.id)
            if n.id == "call_boto3" and id(n) not in func_of_call:
                bad.add("call_boto3 as a value")
            if is_dunder(n.id) and n.id != "__name__":
                bad.add(n.id)
        elif isinstance(n, ast.Attribute):
            if is_dunder(n.attr) and n.attr not in OK_DUNDER_ATTRS:
                bad.add("." + n.attr)
            if n.attr == "call_boto3":
                bad.add(".call_boto3")
    return sorted(bad)


out = {}
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        src = f.read()
    try:
        tree = ast.parse(src, path)
    except (SyntaxError, ValueError):
        out[path] = {"ok": False, "calls": []}
        continue
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "call_boto3":
            kw = {k.arg: k.value for k in node.keywords if k.arg}
            svc, op = kw.get("service_name"), kw.get("operation_name")
            if isinstance(svc, ast.Constant) and isinstance(op, ast.Constant) and isinstance(svc.value, str) and isinstance(op.value, str):
                calls.append([svc.value, op.value])
    out[path] = {"ok": True, "calls": sorted(set(map(tuple, calls))), "bad": bad_names(tree)}
json.dump(out, sys.stdout)
