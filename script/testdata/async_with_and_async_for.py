import asyncio

class Gate:
    async def __aenter__(self):
        return self
    async def __aexit__(self, *exc):
        return False

async def pages():
    for n in range(2):
        yield n

async with Gate() as g:
    async for p in pages():
        await call_boto3(service_name="cloudwatch", operation_name="ListMetrics", params={"NextToken": "t"})
sem = asyncio.Semaphore(2)
async with sem:
    await asyncio.sleep(0)
