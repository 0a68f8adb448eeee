await call_boto3(service_name=b"s3", operation_name="ListBuckets")
