await call_boto3(service_name=f"iam", operation_name="ListUsers")
