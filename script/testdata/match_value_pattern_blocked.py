import asyncio
match 1:
    case asyncio.events.x:
        pass
