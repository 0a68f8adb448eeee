import asyncio
mods = asyncio.sys.modules
