async def f(region):
    return await call_boto3(service_name="ec2", operation_name="DescribeInstances", region_name=region)
await f("us-east-1")
