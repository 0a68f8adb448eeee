for region in ["us-east-1"]:
    region = input_region
    await call_boto3(service_name="ec2", operation_name="DescribeInstances", region_name=region)
