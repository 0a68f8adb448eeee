await call_boto3(service_name=None, operation_name="ListBuckets")
