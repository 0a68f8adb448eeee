await call_boto3(service_name="s3")
