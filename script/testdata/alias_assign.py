f = call_boto3
await f(service_name="s3", operation_name="ListBuckets")
