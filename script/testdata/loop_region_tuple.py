results = {}
for region in ("us-east-1", "us-west-2", "eu-central-1"):
    results[region] = await call_boto3(
        service_name="lambda",
        operation_name="ListFunctions",
        region_name=region,
    )
