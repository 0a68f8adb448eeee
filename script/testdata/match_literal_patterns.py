kind = "buckets"
match kind:
    case "buckets":
        r = await call_boto3(service_name="s3", operation_name="ListBuckets")
    case "tables" | "dynamo":
        r = await call_boto3(service_name="dynamodb", operation_name="ListTables")
    case {"k": v}:
        r = v
    case [first, *rest]:
        r = first
    case Point(x=0):
        r = None
    case _:
        r = None
