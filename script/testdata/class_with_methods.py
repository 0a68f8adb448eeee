class Inventory:
    """Collects buckets."""

    def __init__(self, prefix):
        self.prefix = prefix
        self._names = []

    def __repr__(self):
        return f"Inventory({self.prefix!r})"

    def __len__(self):
        return len(self._names)

    async def load(self):
        resp = await call_boto3(service_name="s3", operation_name="ListBuckets")
        self._names = [b["Name"] for b in resp["Buckets"] if b["Name"].startswith(self.prefix)]
        return self


class Child(Inventory):
    def __init__(self):
        super().__init__("logs-")


inv = await Child().load()
print(type(inv).__name__, len(inv))
