g = lambda: call_boto3
await g()(service_name="iam", operation_name="CreateUser")
