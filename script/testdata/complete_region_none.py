r = await call_boto3(service_name="ec2", operation_name="DescribeRegions", region_name=None, params=None)
