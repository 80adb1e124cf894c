"""Paper bots with the panel on, and an HTTP session signed in to it."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from xtb.config import validate
from xtb.engine.engine import Engine

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "panel-test-token"


def paper_config(tmp_path: Path, name: str, *, params: dict[str, Any] | None = None,
                 extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """configs/<name>.yaml, with its files under tmp_path and the control token fixed."""
    data = yaml.safe_load((ROOT / "configs" / f"{name}.yaml").read_text())
    data = copy.deepcopy(data)
    data["general"].update(log_dir=str(tmp_path / "logs"), run_dir=str(tmp_path / "runs"),
                           lock_dir=str(tmp_path / "locks"))
    data.setdefault("control", {}).update(token=TOKEN, push_interval_s=0.2)
    data["strategy"]["params"].update(params or {})
    for key, value in (extra or {}).items():
        data[key] = value
    return data


async def start_paper(cfg: dict[str, Any]) -> Engine:
    engine = Engine(validate(cfg), env={})
    await engine.start()
    return engine


async def until(cond, limit_s: float = 15.0, step: float = 0.1) -> bool:
    for _ in range(int(limit_s / step)):
        if cond():
            return True
        await asyncio.sleep(step)
    return bool(cond())


async def signed_in(port: int, token: str = TOKEN) -> aiohttp.ClientSession:
    s = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # cookies for 127.0.0.1
    async with s.post(f"http://127.0.0.1:{port}/login", data={"token": token}, allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == "/"
    return s
