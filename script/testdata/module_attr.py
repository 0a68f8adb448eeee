import json
codecs = json.codecs
