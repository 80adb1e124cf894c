"""The core as its own product: its wheel alone in a fresh virtual environment runs examples/embed_core/bot.py
against a standalone `xtb sim` (the simulator runs from this environment; the bot's has only xtb-core)."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from xtb.core import BackpackSigner

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "embed_core" / "bot.py"

pytestmark = pytest.mark.skipif(not (ROOT / "core_ext" / "pyproject.toml").is_file(), reason="needs the checkout")


@pytest.fixture(scope="module")
def core_only_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with nothing but the xtb-core wheel built from core_ext/ (cargo reuses its target dir)."""
    tmp = tmp_path_factory.mktemp("core-only")
    wheels = tmp / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels),
                    str(ROOT / "core_ext")], check=True, timeout=900)
    [wheel] = wheels.glob("xtb_core-*.whl")
    env_dir = tmp / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", str(wheel)],
                   check=True, timeout=300)
    return python


def test_the_core_wheel_installs_alone(core_only_python: Path) -> None:
    out = subprocess.run([str(core_only_python), "-m", "pip", "list", "--format=freeze"], capture_output=True,
                         text=True, check=True).stdout
    names = {line.split("==")[0].lower() for line in out.splitlines()}
    assert "xtb-core" in names and "xtb" not in names
    assert names <= {"xtb-core", "pip", "setuptools", "wheel"}, names  # no runtime dependency at all
    probe = ("import importlib.util, xtb_core; "
             "assert importlib.util.find_spec('xtb') is None; "
             "assert xtb_core.OrderBook.__module__ == 'xtb_core._core'; print(xtb_core.__version__)")
    res = subprocess.run([str(core_only_python), "-c", probe], capture_output=True, text=True, cwd="/")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "0.1.0"


def test_the_embedding_example_trades_against_the_simulator(core_only_python: Path, tmp_path: Path) -> None:
    secret = base64.b64encode(os.urandom(32)).decode()
    public = BackpackSigner(secret).public_key_b64
    sim = subprocess.Popen(
        [sys.executable, "-m", "xtb.cli", "sim", "--venues", "backpack", "--backpack-api-key", public,
         "--duration", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert sim.stdout is not None
        urls = None
        for _ in range(20):  # the simulator prints one line per venue, then its URLs
            line = sim.stdout.readline()
            m = re.search(r"rest (http://\S+)\s+ws (ws://\S+)", line)
            if m:
                urls = m.groups()
                break
        assert urls is not None, "xtb sim printed no URLs"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env["BOT_SECRET_B64"] = secret
        res = subprocess.run([str(core_only_python), str(EXAMPLE), "--rest", urls[0], "--ws", urls[1],
                              "--max-seconds", "30"], capture_output=True, text=True, env=env, cwd=tmp_path,
                             timeout=90)
    finally:
        sim.terminate()
        sim.wait(timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "snapshot at" in res.stdout
    assert re.search(r"after \d+ book updates: best bid [\d.]+ -> bid [\d.]+ @ [\d.]+: New", res.stdout), res.stdout
    assert "cancel: Cancelled; tracker: cancelled" in res.stdout
