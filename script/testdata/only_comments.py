# nothing to do here
# call_boto3(service_name="iam", operation_name="DeleteUser")
