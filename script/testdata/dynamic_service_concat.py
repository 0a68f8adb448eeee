await call_boto3(service_name="i" + "am", operation_name="ListUsers")
