async for r in ["us-east-1"]:
    await call_boto3(service_name="ec2", operation_name="DescribeInstances", region_name=r)
