async def run(call_boto3):
    return await call_boto3(service_name="s3", operation_name="ListBuckets")
