"""call_boto3(service_name="iam", operation_name="CreateUser")"""
# call_boto3(service_name="iam", operation_name="DeleteUser")
x = "call_boto3(service_name='iam', operation_name='ListUsers')"
await call_boto3(service_name="s3", operation_name="ListBuckets")
