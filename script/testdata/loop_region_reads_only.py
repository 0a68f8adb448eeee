summary = []
for region in ["us-east-1", "eu-west-1"]:
    print(f"scanning {region}")
    label = region.upper() + "-" + region
    if region == "us-east-1":
        summary.append(label)
    resp = await call_boto3(service_name="ec2", operation_name="DescribeVpcs", region_name=region)
    summary.append({region: len(resp["Vpcs"])})
