await call_boto3(service_name="s" "3", operation_name="List" 'Buckets')
await call_boto3(service_name=("cloud"
                              "watch"), operation_name="""ListMetrics""")
