def f():
    global call_boto3
    call_boto3 = print
