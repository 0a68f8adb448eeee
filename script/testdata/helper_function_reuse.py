async def list_users():
    users = []
    marker = None
    while True:
        kwargs = {"MaxItems": 100}
        if marker:
            kwargs["Marker"] = marker
        page = await call_boto3(service_name="iam", operation_name="ListUsers", params=kwargs)
        users.extend(page["Users"])
        if not page.get("IsTruncated"):
            return users
        marker = page["Marker"]

a = await list_users()
b = await list_users()
