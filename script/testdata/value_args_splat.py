args = ["iam"]
await call_boto3(*args, operation_name="CreateUser")
