REGIONS = ["us-east-1", "eu-west-1"]
for r in REGIONS:
    await call_boto3(service_name="ec2", operation_name="DescribeInstances", region_name=r)
