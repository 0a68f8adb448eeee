import socket
await call_boto3(service_name="s3", operation_name="ListBuckets")
