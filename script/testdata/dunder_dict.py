class A:
    pass
d = A.__dict__
