def evil():
    global r
    r = "cn-north-1"
for r in ["us-east-1"]:
    evil()
    await call_boto3(service_name="ec2", operation_name="DescribeInstances", region_name=r)
