await call_boto3(service_name="kms", operation_name="Encrypt", params={"KeyId": "alias/k", "Plaintext": b"secret"})
await call_boto3(service_name="s3", operation_name="ListBuckets", params={"S": {1, 2}})
await call_boto3(service_name="s3", operation_name="ListBuckets", params={**{"a": 1}})
