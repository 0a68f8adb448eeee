svc = "iam"
await call_boto3(service_name=f"{svc}", operation_name="ListUsers")
