"""setuptools side of xtb's build: the Cython listener glue, and the runtime dependencies.

The Rust core is its own distribution, `xtb-core` (core_ext/, built by maturin through its own PEP 517
backend); xtb depends on it like on any other package. From a checkout the dependency points at the crate
next to this file, so `pip install .`, `pip install -e .` and `pip wheel .` build both with no extra step.
docs/build.md explains the choice.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup

ROOT = Path(__file__).resolve().parent
VERSION = "0.1.0"  # the same in pyproject.toml and core_ext/Cargo.toml (tests/app/test_packaging.py checks)

RUNTIME_DEPENDENCIES = [
    "picows==2.3.1",          # the Cython listener is compiled against this exact version's WSFrame layout
    "orjson>=3.8",
    "aiohttp>=3.9",
    "httptools>=0.6",         # llhttp: replies of the order-entry keep-alive client
    "uvloop>=0.19; sys_platform != 'win32'",
    "pynacl>=1.5",
    "pydantic>=2.5",
    "pyyaml>=6",
    "typer>=0.12",
    "prometheus-client>=0.19",
    "sortedcontainers>=2.4",
    "lighter-sdk>=1.0",
    "rich>=13",               # progress bar of `xtb replay`
    "matplotlib>=3.8",        # charts of `xtb report` (Agg backend, no display)
    "apprise>=1.6",           # operator notifications: webhook, Telegram, WeCom, Slack, email, ...
]


def core_requirement() -> str:
    """The compiled core: XTB_CORE_REQUIREMENT if set (e.g. `xtb-core==0.1.0` from a package index), else
    the crate in this checkout (a direct reference, built by maturin), else the same version by name."""
    override = os.environ.get("XTB_CORE_REQUIREMENT", "").strip()
    if override:
        return override
    crate = ROOT / "core_ext"
    if (crate / "pyproject.toml").is_file():
        return f"xtb-core @ {crate.as_uri()}"
    return f"xtb-core=={VERSION}"


def cython_extensions() -> list[Extension]:
    """Every `xtb/**/*.pyx` (the picows listener glue), cythonized."""
    sources = sorted(glob.glob("xtb/**/*.pyx", recursive=True), key=str)
    exts = [
        Extension(".".join(Path(src).with_suffix("").parts), [src], extra_compile_args=["-O3"])
        for src in sources
    ]
    return cythonize(exts, language_level=3, compiler_directives={"boundscheck": False, "wraparound": False})


if __name__ == "__main__":
    os.chdir(ROOT)  # relative sources, whatever directory the build frontend runs us from
    setup(install_requires=[*RUNTIME_DEPENDENCIES, core_requirement()], ext_modules=cython_extensions())
