"""Reads script paths from argv and prints, per script, whether CPython's
own parser accepts it and the (service, operation) of every
call_boto3(...) call with string-constant keywords. Used by
TestCPythonAgrees to cross-check tree-sitter against CPython."""
import ast
import json
import sys

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
    out[path] = {"ok": True, "calls": sorted(set(map(tuple, calls)))}
json.dump(out, sys.stdout)
