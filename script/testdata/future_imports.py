from __future__ import annotations, generator_stop

def f(x: "int") -> "str":
    return str(x)

await call_boto3(service_name="s3", operation_name="ListBuckets")
