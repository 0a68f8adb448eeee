"""Lists the attribute names through which the default allowed modules hand
out modules that are not allowed (asyncio.events, json.codecs, ...).

Run by TestModuleAttributes: python3 moduleattrs.py MODULE... prints one
attribute name per line, sorted. The analyzer refuses these names on a
module (import json; json.codecs) and in from-imports.
"""
import importlib
import sys
import types

allowed = set(sys.argv[1:])
for name in allowed:
    importlib.import_module(name)

found = set()
seen = set()
queue = sorted(allowed)
while queue:
    name = queue.pop()
    if name in seen:
        continue
    seen.add(name)
    module = sys.modules[name]
    for attr in dir(module):
        if attr.startswith("__") and attr.endswith("__"):
            continue
        try:
            value = getattr(module, attr)
        except Exception:
            continue
        if isinstance(value, types.ModuleType):
            if value.__name__ in allowed:
                queue.append(value.__name__)
            else:
                found.add(attr)
            continue
        # One level into classes and other objects of the module.
        for inner in dir(value):
            if inner.startswith("__") and inner.endswith("__"):
                continue
            try:
                v = getattr(value, inner)
            except Exception:
                continue
            if isinstance(v, types.ModuleType) and v.__name__ not in allowed:
                found.add(inner)

for attr in sorted(found):
    print(attr)
