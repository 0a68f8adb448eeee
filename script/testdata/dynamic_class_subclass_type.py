class Meta(type):
    pass

C = Meta("C", (), {"__init_sub" "class__": print})
