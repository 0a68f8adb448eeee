await call_boto3(operation_name="ListBuckets", service_name="s3", params={"call_boto3": "eval"})
