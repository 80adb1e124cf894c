"""setuptools hook: `pip install .` builds the Rust core (maturin) and the Cython glue through build.py."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_ext import build_ext

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build as xtb_build


class BuildCoreAndCython(build_ext):
    def run(self) -> None:
        if not os.environ.get("XTB_SKIP_CORE"):
            pkg_dir = Path("xtb") if self.inplace else Path(self.build_lib) / "xtb"
            xtb_build.build_core(pkg_dir.resolve(), release=os.environ.get("XTB_DEBUG_BUILD") != "1")
        super().run()


class BinaryDistribution(Distribution):
    """The wheel always carries a compiled module (the Rust core), even with no Cython source."""

    def has_ext_modules(self) -> bool:
        return True


setup(
    distclass=BinaryDistribution,
    ext_modules=xtb_build.cython_extensions(),
    cmdclass={"build_ext": BuildCoreAndCython},
)
