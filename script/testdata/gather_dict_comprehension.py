import asyncio
pending = {r: call_boto3(service_name="sns", operation_name="ListTopics", region_name=r) for r in ["us-east-1", "eu-west-1"]}
done = dict(zip(pending, await asyncio.gather(*pending.values())))
