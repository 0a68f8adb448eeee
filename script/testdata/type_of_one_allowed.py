resp = await call_boto3(service_name="s3", operation_name="ListBuckets")
print(type(resp).__name__, type(resp["Buckets"]) is list)
