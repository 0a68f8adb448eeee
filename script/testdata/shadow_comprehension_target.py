xs = [call_boto3 for call_boto3 in [1]]
