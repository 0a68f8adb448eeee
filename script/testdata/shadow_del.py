del call_boto3
