try:
    r = await call_boto3(service_name="secretsmanager", operation_name="ListSecrets")
except Exception as err:
    print("failed", err)
    r = None
else:
    print("ok")
finally:
    print("done")
