import collections
mods = collections._sys.modules
