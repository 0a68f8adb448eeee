import asyncio
from asyncio import gather

async def one(name):
    return await call_boto3(service_name="s3", operation_name="GetBucketLocation", params={"Bucket": name})

locs = await gather(one("a"), one("b"), call_boto3(service_name="s3", operation_name="ListBuckets"))
