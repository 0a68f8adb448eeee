def f():
    x = 1
    def g():
        nonlocal call_boto3
    return g
