import asyncio
results = list(map(call_boto3, [1]))
