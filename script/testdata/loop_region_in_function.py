async def scan():
    found = []
    for region in ["us-east-1", "eu-north-1"]:
        resp = await call_boto3(service_name="ec2", operation_name="DescribeVolumes", region_name=region)
        found.extend(resp.get("Volumes", []))
    return found

volumes = await scan()
