x = rf"\N{eval('1')}"
y = fr'\N{call_boto3}'
z = Rf"\N{exec('1')}"
