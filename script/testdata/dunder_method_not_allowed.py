class A:
    def __getattr__(self, name):
        return name
