def get():
    return call_boto3
await get()(service_name="iam", operation_name="CreateUser")
