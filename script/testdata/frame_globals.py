async def f():
    pass
c = f()
g = c.cr_frame.f_globals
await g["call_boto3"](service_name="iam", operation_name="ListUsers")
