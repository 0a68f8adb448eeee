for op in ["ListUsers", "DeleteUser"]:
    await call_boto3(service_name="iam", operation_name=op)
