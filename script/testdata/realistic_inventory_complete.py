"""Inventory of S3 buckets and EC2 instances across two regions.

Returns a summary dict the agent can show to the user.
"""
import asyncio
import json
from datetime import datetime, timezone

REGIONS = ["us-east-1", "eu-west-1"]


async def bucket_summary():
    resp = await call_boto3(service_name="s3", operation_name="ListBuckets")
    buckets = resp.get("Buckets", [])
    names = [b["Name"] for b in buckets if not b["Name"].startswith("tmp-")]
    return {"count": len(buckets), "names": sorted(names)}


async def instances_all():
    out = []
    token = None
    for region in ["us-east-1", "eu-west-1"]:
        params = {"MaxResults": 100}
        if token:
            params["NextToken"] = token
        resp = await call_boto3(
            service_name="ec2",
            operation_name="DescribeInstances",
            region_name=region,
            params=params,
        )
        for reservation in resp.get("Reservations", []):
            for inst in reservation.get("Instances", []):
                state = inst.get("State", {}).get("Name", "unknown")
                out.append({
                    "id": inst["InstanceId"],
                    "type": inst.get("InstanceType"),
                    "state": state,
                    "launched": str(inst.get("LaunchTime", "")),
                })
        token = resp.get("NextToken")
    return out


async def main():
    buckets, *per_region = await asyncio.gather(
        bucket_summary(),
        instances_all(),
    )
    running = 0
    by_type = {}
    for region_instances in per_region:
        for inst in region_instances:
            if inst["state"] == "running":
                running += 1
            by_type[inst["type"]] = by_type.get(inst["type"], 0) + 1
    caller = await call_boto3(service_name="sts", operation_name="GetCallerIdentity")
    return {
        "generated": datetime.now(timezone.utc).isoformat(),
        "account": caller.get("Account"),
        "buckets": buckets,
        "running": running,
        "by_type": dict(sorted(by_type.items())),
        "regions": REGIONS,
    }


result = await main()
print(json.dumps(result, indent=2, default=str))
