match 1:
    case call_boto3:
        pass
