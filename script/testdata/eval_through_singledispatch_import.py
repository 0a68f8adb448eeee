from functools import singledispatch

@singledispatch
def handle(x):
    return x

@handle.register
def _(x: "exec('x = 1')"):
    return x
