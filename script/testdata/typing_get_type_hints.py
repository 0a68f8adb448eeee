from typing import Any, get_type_hints

def f(x: "call_boto3"):
    pass

fn = get_type_hints(f)["x"]
await fn(service_name="iam", operation_name="CreateAccessKey")
