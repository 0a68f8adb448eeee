import asyncio
regions = ["us-east-1"]
responses = await asyncio.gather(*(call_boto3(service_name="sqs", operation_name="ListQueues", region_name=r) for r in ["us-east-1", "eu-west-3"]))
