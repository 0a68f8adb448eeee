import json
f = getattr(json, "loads")
