await call_boto3("iam", "CreateUser")
