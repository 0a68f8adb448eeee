async def f():
    pass
match f():
    case object(cr_frame=fr):
        print(fr)
