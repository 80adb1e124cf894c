"""Rebuild xtb's compiled parts for development, after a change to core_ext/ or a `.pyx`.

    python build.py            the core (release profile) reinstalled into this environment + Cython in place
    python build.py --debug    faster Rust compile, unoptimised (never for benchmarks)
    python build.py --core-only / --cython-only

A normal install needs none of this: `pip install -e .` installs the core (xtb-core, built by maturin
from core_ext/) as a dependency and compiles the Cython glue. This script only repeats those two steps
with the build tools' own entry points: pip + maturin's PEP 517 backend for the core, setuptools'
`build_ext --inplace` for Cython (docs/build.md).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent
CRATE = ROOT / "core_ext"


def build_core(*, release: bool = True) -> None:
    """(Re)install the xtb-core distribution from core_ext/ into the running interpreter's environment."""
    env = dict(os.environ)
    if not release:
        env["MATURIN_PEP517_ARGS"] = "--profile dev"
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", str(CRATE)]
    print("[build] " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=env)
    # The core used to be built into xtb/ itself: a stale copy there would shadow the xtb._core alias.
    for stale in (ROOT / "xtb").glob("_core.*" + (sysconfig.get_config_var("SHLIB_SUFFIX") or ".so")):
        print(f"[build] removing stale {stale.relative_to(ROOT)}", flush=True)
        stale.unlink()


def build_cython() -> None:
    cmd = [sys.executable, "setup.py", "-q", "build_ext", "--inplace"]
    print("[build] " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--debug", action="store_true", help="unoptimised Rust build (quick compile)")
    only = ap.add_mutually_exclusive_group()
    only.add_argument("--core-only", action="store_true", help="skip the Cython modules")
    only.add_argument("--cython-only", action="store_true", help="skip the Rust core")
    args = ap.parse_args()
    if not args.cython_only:
        build_core(release=not args.debug)
    if not args.core_only:
        build_cython()
    return 0


if __name__ == "__main__":
    sys.exit(main())
