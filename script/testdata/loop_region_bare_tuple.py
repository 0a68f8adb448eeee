for r in "ap-northeast-1", "sa-east-1":
    await call_boto3(service_name="rds", operation_name="DescribeDBInstances", region_name=r)
