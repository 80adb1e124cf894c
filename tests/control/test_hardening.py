"""Control endpoint hardening: a NaN hold time is refused naming the field, refused requests do not flood
the log, run directories and records are private."""

import logging
import math
import stat

import aiohttp
import pytest

from xtb.control import ControlServer
from xtb.control.server import RefusalLog
from xtb.model.types import MarketInfo
from xtb.private import create_private_file, make_private_dir
from xtb.risk import RiskGuard, TradingState
from xtb.telemetry.recorder import SqliteRecorder
from xtb.telemetry.run import new_run_dir
from xtb.telemetry.stats import StatsWriter

SOL = MarketInfo("backpack", "SOL_USDC_PERP", "SOL", "USDC", 2, 2, 1, 1, 2, 0)


class FakeEngine:
    def __init__(self):
        self.risk = RiskGuard({}, market=lambda v, s: SOL)

    def status(self):
        return {"state": "running", **self.risk.status()}


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", "0", "-5", "true", '"10"'])
async def test_for_s_must_be_a_finite_positive_number(tmp_path, raw):
    eng = FakeEngine()
    srv = await ControlServer.start(eng, state_dir=tmp_path, env={"XTB_CONTROL_TOKEN": "tok"})
    try:
        body = '{"state": "halted", "reason": "t", "for_s": ' + raw + '}'
        async with aiohttp.ClientSession() as s, s.post(
                f"http://127.0.0.1:{srv.port}/risk/state", data=body,
                headers={"Authorization": "Bearer tok", "Content-Type": "application/json"}) as r:
            assert r.status == 400
            assert (await r.json())["error"].startswith("for_s:")
        assert eng.risk.state is TradingState.ACTIVE  # nothing changed
    finally:
        await srv.stop()


async def test_a_finite_hold_still_lifts(tmp_path):
    eng = FakeEngine()
    srv = await ControlServer.start(eng, state_dir=tmp_path, env={"XTB_CONTROL_TOKEN": "tok"})
    try:
        async with aiohttp.ClientSession() as s, s.post(
                f"http://127.0.0.1:{srv.port}/risk/state", json={"state": "halted", "for_s": 0.5},
                headers={"Authorization": "Bearer tok"}) as r:
            assert r.status == 200 and math.isfinite((await r.json())["risk_until"])
    finally:
        await srv.stop()


async def test_wrong_tokens_are_counted_not_logged_one_by_one(tmp_path, caplog):
    srv = await ControlServer.start(FakeEngine(), state_dir=tmp_path, env={"XTB_CONTROL_TOKEN": "right-token"})
    caplog.set_level(logging.WARNING, logger="xtb.control")
    try:
        async with aiohttp.ClientSession() as s:
            for i in range(300):
                async with s.get(f"http://127.0.0.1:{srv.port}/status",
                                 headers={"Authorization": f"Bearer wrong-{i}"}) as r:
                    assert r.status == 401
    finally:
        await srv.stop()
    lines = [r.getMessage() for r in caplog.records if r.name == "xtb.control" and "refused" in r.getMessage()]
    assert srv.refused == 300
    assert len(lines) == 2, lines  # the first refusal, then one line with the count at stop
    assert "299 more requests refused" in lines[-1]
    assert not any("right-token" in m or "wrong-1" in m for m in caplog.messages)


def test_refusal_log_writes_one_line_per_interval():
    t = [0.0]
    lines: list[str] = []

    class L:
        def warning(self, fmt, *args):
            lines.append(fmt % args)

    rl = RefusalLog(L(), interval_s=60, clock=lambda: t[0])  # type: ignore[arg-type]
    for i in range(1000):
        t[0] = i * 0.5  # 500 s of refusals, two a second
        rl.refused("GET", "/status", "wrong token")
    assert len(lines) == 9  # t = 0, 60, 120, ... 480
    assert "(and 119 more refused since the last line)" in lines[1]


def test_run_directories_and_records_are_private(tmp_path, monkeypatch):
    monkeypatch.setattr("os.umask", lambda *_: 0o022)
    run = new_run_dir(tmp_path / "runs", "s")
    assert stat.S_IMODE(run.stat().st_mode) == 0o700
    rec = SqliteRecorder(run / "records.sqlite")
    rec.record("equity", {"ts_ms": 1, "strategy": "s", "equity": 1.0})
    rec.close()
    StatsWriter(run / "stats.log", header="h")
    for name in ("records.sqlite", "stats.log"):
        assert stat.S_IMODE((run / name).stat().st_mode) == 0o600, name
    for extra in run.glob("records.sqlite-*"):  # WAL / shm, if left
        assert stat.S_IMODE(extra.stat().st_mode) == 0o600
    d = make_private_dir(tmp_path / "a" / "b")
    f = create_private_file(d / "f")
    assert stat.S_IMODE(d.stat().st_mode) == 0o700 and stat.S_IMODE(f.stat().st_mode) == 0o600
