x: call_boto3 = None
