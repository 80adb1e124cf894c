# Typing for the alias module xtb/_core.py: the names of the compiled core, from its own stub.
from xtb_core._core import *  # noqa: F403
from xtb_core._core import __version__ as __version__
