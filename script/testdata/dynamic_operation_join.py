await call_boto3(service_name="iam", operation_name="".join(["List", "Users"]))
