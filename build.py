"""The one build script for xtb's compiled parts.

    python build.py            in-place development build (release profile): xtb/_core*.so + Cython modules
    python build.py --debug    faster Rust compile, unoptimised (never for benchmarks)

`pip install .` runs the same two steps through setup.py's build_ext hook, so there is one recipe:
  1. the Rust crate in core_ext/ is built by maturin (release: LTO fat, one codegen unit, see
     core_ext/Cargo.toml) and the extension module `xtb._core` is taken out of the wheel it produces;
  2. every `xtb/**/*.pyx` is cythonized and compiled by setuptools (the picows listener glue).
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
CRATE = ROOT / "core_ext"
CORE_MODULE = "xtb._core"


def core_filename() -> str:
    """File name of the compiled core for this interpreter, e.g. _core.cpython-311-x86_64-linux-gnu.so."""
    return "_core" + (sysconfig.get_config_var("EXT_SUFFIX") or ".so")


def build_core(dest_pkg_dir: Path, *, release: bool = True) -> Path:
    """Build xtb._core with maturin and place it in `dest_pkg_dir` (a directory that is the `xtb` package)."""
    dest_pkg_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="xtb-core-") as out:
        cmd = [
            sys.executable, "-m", "maturin", "build",
            "--manifest-path", str(CRATE / "Cargo.toml"),
            "--interpreter", sys.executable,
            "--out", out,
            "--quiet",
        ]
        if release:
            cmd.append("--release")
        env = dict(os.environ)
        env.setdefault("CARGO_TARGET_DIR", str(CRATE / "target"))
        print("[build] " + " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, cwd=CRATE, env=env)
        wheels = glob.glob(os.path.join(out, "*.whl"))
        if len(wheels) != 1:
            raise RuntimeError(f"maturin produced {len(wheels)} wheels in {out}, expected 1")
        with zipfile.ZipFile(wheels[0]) as whl:
            names = [n for n in whl.namelist() if Path(n).name.startswith("_core") and n.endswith((".so", ".pyd"))]
            if len(names) != 1:
                raise RuntimeError(f"no unique _core extension in {wheels[0]}: {names}")
            target = dest_pkg_dir / core_filename()
            with whl.open(names[0]) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
    print(f"[build] core -> {target}", flush=True)
    return target


def cython_extensions() -> list:
    """setuptools Extension objects for every .pyx under xtb/ (cythonized)."""
    from Cython.Build import cythonize
    from setuptools import Extension

    pyx = sorted(glob.glob(str(ROOT / "xtb" / "**" / "*.pyx"), recursive=True))
    exts = []
    for path in pyx:
        rel = Path(path).relative_to(ROOT).with_suffix("")
        exts.append(
            Extension(
                ".".join(rel.parts),
                [str(Path(path).relative_to(ROOT))],
                extra_compile_args=["-O3"],
            )
        )
    if not exts:
        return []
    return cythonize(exts, language_level=3, compiler_directives={"boundscheck": False, "wraparound": False})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--debug", action="store_true", help="unoptimised Rust build (quick compile)")
    ap.add_argument("--core-only", action="store_true", help="skip the Cython modules")
    args = ap.parse_args()
    os.chdir(ROOT)
    build_core(ROOT / "xtb", release=not args.debug)
    if not args.core_only:
        # setup.py build_ext --inplace compiles the Cython modules; XTB_SKIP_CORE stops it rebuilding the core.
        env = dict(os.environ, XTB_SKIP_CORE="1")
        subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], check=True, cwd=ROOT, env=env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
