await call_boto3(service_name="s\N{DIGIT THREE}", operation_name="ListBuckets")
