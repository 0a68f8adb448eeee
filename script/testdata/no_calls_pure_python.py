import json
data = {"a": [1, 2, 3]}
print(json.dumps(data))
squares = [x * x for x in range(10)]
