import json
import asyncio as aio
import datetime
import re
import collections.abc
from itertools import chain, islice
from collections import defaultdict, Counter
from functools import reduce, partial
from decimal import Decimal
import math, statistics, textwrap, time, base64, fractions

resp = await call_boto3(service_name="ce", operation_name="GetCostAndUsage", region_name="us-east-1", params={
    "TimePeriod": {"Start": "2026-11-01", "End": "2026-12-01"},
    "Granularity": "MONTHLY",
    "Metrics": ["UnblendedCost"],
})
total = sum(Decimal(r["Total"]["UnblendedCost"]["Amount"]) for r in resp["ResultsByTime"])
stamp = datetime.datetime.now(datetime.timezone.utc).isoformat()
print(json.dumps({"total": str(total), "at": stamp, "ok": bool(re.match(r"\d", "1"))}))
isinstance({}, collections.abc.Mapping)
