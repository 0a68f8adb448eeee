from typing import Any, Dict, List, Optional

async def names() -> List[str]:
    resp: Dict[str, Any] = await call_boto3(service_name="s3", operation_name="ListBuckets")
    out: List[str] = [b["Name"] for b in resp.get("Buckets", [])]
    return out

first: Optional[str] = None
result = await names()
