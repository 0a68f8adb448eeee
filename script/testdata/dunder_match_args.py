class A:
    __match_args__ = ("cr_frame",)
