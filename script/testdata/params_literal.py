await call_boto3(service_name="s3", operation_name="ListObjectsV2", params={"Bucket": "data", "MaxKeys": 10, "Prefix": "a/" "b/", "Flags": [True, None, -1.5]})
