import asyncio
a, b = await asyncio.gather(
    call_boto3(service_name="s3", operation_name="ListBuckets"),
    call_boto3(service_name="sts", operation_name="GetCallerIdentity", region_name="us-west-2"),
)
