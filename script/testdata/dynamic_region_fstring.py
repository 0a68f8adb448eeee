await call_boto3(service_name="ec2", operation_name="DescribeInstances", region_name=f"us-{part}-1")
