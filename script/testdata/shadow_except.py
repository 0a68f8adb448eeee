try:
    pass
except Exception as call_boto3:
    pass
