for r in ["us-east-1"]:
        pass
 	await call_boto3(service_name="s3", operation_name="ListBuckets", region_name=r)
