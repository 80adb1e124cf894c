"""The public surface of xtb's compiled core, for embedding in other bots.

Everything here is documented in docs/core_api.md and typed in xtb/_core.pyi.
"""

from __future__ import annotations

from xtb import _core
from xtb._core import __version__ as core_version

__all__ = ["core_version"]


def _export(*names: str) -> None:
    """Re-export names from the compiled module (they appear as the parts of the core land)."""
    for name in names:
        if hasattr(_core, name):
            globals()[name] = getattr(_core, name)
            __all__.append(name)
