from collections import abc
from collections import abc as cabc
ok = isinstance({}, abc.Mapping) and isinstance([], cabc.Sequence)
leak = [abc]
await call_boto3(service_name="s3", operation_name="ListBuckets")
