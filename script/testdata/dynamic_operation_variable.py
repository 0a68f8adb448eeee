ops = ["ListUsers", "DeleteUser"]
for op in ops:
    await call_boto3(service_name="iam", operation_name=op)
