@call_boto3
def f():
    pass
