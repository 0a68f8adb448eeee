x = object.__getattribute__(1, "real")
