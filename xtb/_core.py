"""`xtb._core` is the compiled core, which ships as its own distribution (xtb-core, `import xtb_core`).

This module makes the name an alias of that one extension module (not a copy), so `xtb._core.X is
xtb_core._core.X` for every name, private benchmark hooks included. One build, one source of truth.
"""

import sys

from xtb_core import _core

sys.modules[__name__] = _core
