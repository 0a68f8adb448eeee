r = await call_boto3(  # the buckets
    service_name="s3",  # service
    # operation below
    operation_name="ListBuckets",
)
x = 1 + \
    2
