"""Module docstring.

    await call_boto3(service_name="iam", operation_name="CreateAccessKey")
"""

def helper():
    """await call_boto3(service_name="iam", operation_name="DeleteUser")"""
    # await call_boto3(service_name="iam", operation_name="AttachUserPolicy")
    return 1

text = '''eval("x") exec("y") __import__("os") call_boto3'''
other = f"call_boto3(service_name='iam', operation_name='ListUsers') {text!r:>10}"
await call_boto3(service_name="s3", operation_name="ListBuckets")  # call_boto3(service_name="iam")
