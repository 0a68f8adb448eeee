import importlib
m = importlib.import_module("os")
