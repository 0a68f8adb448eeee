a = await call_boto3(service_name="s3", operation_name="ListBuckets")
b = await call_boto3(service_name="s3", operation_name="ListBuckets")
c = await call_boto3(service_name="s3", operation_name="ListBuckets", region_name="us-east-2")
