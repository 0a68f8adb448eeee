buckets = await call_boto3(service_name="s3", operation_name="ListBuckets")
tables = await call_boto3(service_name="dynamodb", operation_name="ListTables", region_name="eu-west-1")
machines = await call_boto3(service_name="stepfunctions", operation_name="ListStateMachines")
me = await call_boto3(service_name="sts", operation_name="GetCallerIdentity")
return {"buckets": buckets, "tables": tables, "machines": machines, "me": me}
