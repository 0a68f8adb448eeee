import asyncio
results = await asyncio.gather(*[call_boto3(service_name="ec2", operation_name="DescribeVpcs", region_name=r) for r in ("us-east-1", "ap-south-1")])
