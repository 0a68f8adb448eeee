async def call_boto3(**kw):
    return kw
await call_boto3(service_name="s3", operation_name="ListBuckets")
