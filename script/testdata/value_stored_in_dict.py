fns = {"aws": call_boto3}
await fns["aws"](service_name="iam", operation_name="CreateUser")
