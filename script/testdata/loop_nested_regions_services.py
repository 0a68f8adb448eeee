out = []
for region in ["us-east-1", "eu-west-1"]:
    for attempt in range(3):
        out.append(await call_boto3(service_name="ecs", operation_name="ListClusters", region_name=region))
        if out[-1]:
            break
