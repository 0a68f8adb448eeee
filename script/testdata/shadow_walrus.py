if (call_boto3 := print):
    pass
