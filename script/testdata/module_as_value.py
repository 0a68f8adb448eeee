import json
m = json
print(m.codecs)
