await call_boto3(
    service_name="ec2",
    operation_name="DescribeInstances",
    params={
        "Filters": [
            {"Name": "instance-state-name", "Values": ["running", "stopped"]},
            {"Name": "tag:team", "Values": ("data",)},
        ],
        "MaxResults": 0x10,
        "DryRun": False,
        "Offset": -3,
        "Ratio": 2.5e-1,
        "Big": 1_000_000,
        "Nothing": None,
    },
)
