class call_boto3:
    pass
