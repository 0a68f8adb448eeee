print(call_boto3.__name__)
