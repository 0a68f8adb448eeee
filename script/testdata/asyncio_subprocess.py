import asyncio
p = await asyncio.create_subprocess_shell("aws iam create-user --user-name x")
