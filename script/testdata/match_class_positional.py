M = type("M", (type,), {"__instancecheck__": lambda c, x: True})
C = M("C", (), {"__match_args__": ("cr_frame",)})
async def f():
    pass
match f():
    case C(fr):
        print(fr)
