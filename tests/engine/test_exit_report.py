"""The bot's last word: the settle's ExitReport as one line, `exit.json`, and a NOT FLAT alert to the
operator's channels."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from aiohttp import web

from xtb.config import validate
from xtb.engine.engine import Engine
from xtb.engine.settle import ExitReport

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))
from local_http import serve


def test_the_summary_line_says_flat_or_what_is_left() -> None:
    assert ExitReport(positions={"backpack": {}}, open_orders={"backpack": []}).summary().startswith(
        "STOPPED: flat on backpack")
    left = ExitReport(positions={"backpack": {"SOL_USDC_PERP": -10}}, open_orders={"lighter": [7]},
                      unresolved={"lighter": [7]}, errors=["lighter: TimeoutError: read"])
    assert not left.flat
    line = left.summary()
    assert line.startswith("STOPPED: NOT FLAT backpack SOL_USDC_PERP -10") and "\n" not in line
    assert "1 orders open on lighter" in line and "unverified: lighter" in line and "xtb flatten" in line


async def test_not_flat_is_logged_written_and_sent_as_an_alert(tmp_path, caplog) -> None:
    got: list[dict] = []

    async def hook(request: web.Request) -> web.Response:
        got.append(await request.json())
        return web.Response(text="ok")

    async with serve(hook) as port:
        cfg = validate({"general": {"run_dir": str(tmp_path / "runs")}, "strategy": {"name": "perp_mm"},
                        "notify": {"urls": [f"json://127.0.0.1:{port}/hook"]}})
        engine = Engine(cfg)
        engine.run_path = tmp_path
        await engine._announce_exit(ExitReport(positions={"backpack": {"SOL_USDC_PERP": 10}}))
    assert any("STOPPED: NOT FLAT backpack SOL_USDC_PERP +10" in r.getMessage() and r.levelname == "ERROR"
               for r in caplog.records)
    assert json.loads((tmp_path / "exit.json").read_text())["flat"] is False
    assert len(got) == 1 and "STOPPED: NOT FLAT" in got[0]["message"] and "alert" in got[0]["title"]
