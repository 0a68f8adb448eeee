async def main():
    return await call_boto3(service_name="organizations", operation_name="ListAccounts")

if __name__ == "__main__":
    pass
result = await main()
