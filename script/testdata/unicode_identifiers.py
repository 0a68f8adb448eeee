résultats = []
データ = await call_boto3(service_name="s3", operation_name="ListBuckets")
for сегмент in データ.get("Buckets", []):
    résultats.append(сегмент["Name"])
ñame = "café ☕"
print(résultats, ñame)
