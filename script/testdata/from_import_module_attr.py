from json import codecs
codecs.open("x")
