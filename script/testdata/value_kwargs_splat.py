kw = {"service_name": "iam", "operation_name": "CreateUser"}
await call_boto3(**kw)
