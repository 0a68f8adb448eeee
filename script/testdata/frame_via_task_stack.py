import asyncio
frames = asyncio.current_task().get_stack()
globs = frames[0].f_globals
