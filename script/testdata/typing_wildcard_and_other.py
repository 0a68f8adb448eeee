from typing import *
from typing import NamedTuple as NT
