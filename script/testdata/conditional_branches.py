deep = True
if deep:
    r = await call_boto3(service_name="ec2", operation_name="DescribeInstances")
elif False:
    r = await call_boto3(service_name="ec2", operation_name="DescribeImages", params={"Owners": ["self"]})
else:
    r = await call_boto3(service_name="ec2", operation_name="DescribeRegions")
while r and False:
    r = None
