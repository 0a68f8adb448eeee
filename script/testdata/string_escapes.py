await call_boto3(service_name="s\x33", operation_name="\u004cist\U00000042uckets")
await call_boto3(service_name=r"ec2", operation_name=u"DescribeInstances")
await call_boto3(service_name='logs', operation_name='Describe\
LogGroups')
await call_boto3(service_name="\163\163m", operation_name="GetParameter")
