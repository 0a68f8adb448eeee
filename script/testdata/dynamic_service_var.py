svc = "iam"
await call_boto3(service_name=svc, operation_name="ListUsers")
