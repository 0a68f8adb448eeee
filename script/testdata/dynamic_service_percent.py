await call_boto3(service_name="%sam" % "i", operation_name="ListUsers")
