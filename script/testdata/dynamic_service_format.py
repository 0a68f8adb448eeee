await call_boto3(service_name="{}am".format("i"), operation_name="ListUsers")
