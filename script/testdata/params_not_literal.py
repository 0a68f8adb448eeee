bucket = "reports"
await call_boto3(service_name="s3", operation_name="ListObjectsV2", params={"Bucket": bucket})
await call_boto3(service_name="s3", operation_name="ListObjectsV2", params={"Bucket": f"{bucket}-2024"})
await call_boto3(service_name="s3", operation_name="HeadBucket", params=dict(Bucket="x"))
