"""The panel of a running paper bot over HTTP: sign-in, live snapshot, controls (each journaled), the
spread history kept across runs, /health."""

from __future__ import annotations

import asyncio
import json
import stat
import time

import aiohttp
import pytest
from panel_helpers import TOKEN, paper_config, signed_in, start_paper, until

from xtb.core import read_journal
from xtb.journal.report import write_report

HDR = {"X-XTB-Panel": "1"}


async def test_login_session_and_csrf(tmp_path):
    engine = await start_paper(paper_config(tmp_path, "zscore_monitor"))
    port = engine.control.port
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as anon:
            async with anon.get(url + "/", allow_redirects=False) as r:
                assert r.status == 303 and r.headers["Location"] == "/login"
            async with anon.get(url + "/login") as r:
                assert r.status == 200 and "control token" in await r.text()
            async with anon.get(url + "/api/snapshot") as r:
                assert r.status == 401
            async with anon.post(url + "/login", data={"token": "wrong"}, allow_redirects=False) as r:
                assert r.status == 303 and "failed" in r.headers["Location"]
            async with anon.get(url + "/health") as r:
                health = await r.json()
                assert health["status"] == "ok" and health["strategy"] == "zscore_monitor"
                assert "positions" not in health and "pnl" not in health
            async with anon.get(url + "/static/chart.min.js") as r:
                assert r.status == 200 and "Chart.js v3" in (await r.text())[:200]
        s = await signed_in(port)
        try:
            cookie = next(iter(s.cookie_jar))
            assert TOKEN not in cookie.value and cookie["httponly"] and cookie["samesite"] == "Strict"
            async with s.get(url + "/") as r:
                assert r.status == 200 and "/static/panel.js" in await r.text()
            async with s.post(url + "/api/mode", json={"mode": "auto"}) as r:  # cookie without the header
                assert r.status == 403
            assert engine.strategy.params.mode == "reminder"
        finally:
            await s.close()
    finally:
        await engine.stop()


async def test_zscore_panel_live_params_mode_and_history(tmp_path):
    cfg = paper_config(tmp_path, "zscore_monitor")
    engine = await start_paper(cfg)
    port = engine.control.port
    url = f"http://127.0.0.1:{port}"
    s = await signed_in(port)
    try:
        desk = engine.control.desk
        assert await until(lambda: desk.pairs["SOL"].latest_row is not None and bool(desk.pairs["SOL"].points), 15)
        async with s.get(url + "/api/snapshot") as r:
            snap = await r.json()
        assert snap["strategy"] == "zscore_monitor" and snap["strategy_mode"] == "reminder"
        assert snap["mode_switchable"] is True
        assert {p["venue"] for p in snap["positions"]} == {"backpack", "lighter"}
        assert all(p["position_text"].endswith(" SOL") and p["mid"] > 0 for p in snap["positions"])
        view = snap["view"]
        assert view["kind"] == "pairs" and view["band_k"] == 2.0
        pair = view["pairs"][0]
        assert pair["name"] == "SOL" and pair["unit"] == "quote" and pair["price_a"] > 0 and pair["series"]
        assert set(snap["pnl"]) == {"realized", "fees", "unrealized", "net"}
        assert snap["pnl_today"]["runs"] == 1  # the first run of the day in this history

        # the SSE stream delivers snapshots whose prices move
        mids = []
        async with s.get(url + "/api/stream") as r:
            assert r.headers["Content-Type"].startswith("text/event-stream")
            async for line in r.content:
                if line.startswith(b"data: {"):
                    mids.append(tuple(p["mid"] for p in json.loads(line[6:])["positions"]))
                    if len(set(mids)) >= 2:
                        break
        assert len(set(mids)) >= 2

        # live parameters: a good change takes effect, a bad one says why and changes nothing
        async with s.get(url + "/api/params") as r:
            params = await r.json()
        assert params["live"]["enter_z_high"]["value"] == 2.0 and "pairs" not in params["live"]
        async with s.post(url + "/api/params", json={"changes": {"enter_z_high": 2.5}}, headers=HDR) as r:
            assert r.status == 200 and (await r.json())["params"]["enter_z_high"] == 2.5
        assert engine.strategy.params.enter_z_high == 2.5
        for changes, needle in (({"enter_z_high": 5.0}, "exit_z_low < enter_z_high < stop_z"),
                                ({"enter_z_high": "x"}, "enter_z_high"),
                                ({"pairs": []}, "pairs: cannot change while running"),
                                ({"nope": 1}, "nope: zscore_monitor has no such parameter")):
            async with s.post(url + "/api/params", json={"changes": changes}, headers=HDR) as r:
                assert r.status == 400, changes
                assert needle in (await r.json())["error"], changes
        assert engine.strategy.params.enter_z_high == 2.5

        # mode switch without a restart
        async with s.post(url + "/api/mode", json={"mode": "auto"}, headers=HDR) as r:
            assert r.status == 200 and (await r.json())["mode"] == "auto"
        assert engine.strategy.params.mode == "auto"
        async with s.post(url + "/api/mode", json={"mode": "sideways"}, headers=HDR) as r:
            assert r.status == 400

        # pause / resume
        async with s.post(url + "/api/quoting", json={"paused": True}, headers=HDR) as r:
            assert (await r.json())["risk_state"] == "reducing"
        async with s.post(url + "/api/quoting", json={"paused": False}, headers=HDR) as r:
            assert (await r.json())["risk_state"] == "active"

        await asyncio.sleep(1.2)  # a history flush
        async with s.get(url + "/api/spreads", params={"pair": "SOL", "limit": "5"}) as r:
            hist = await r.json()
        assert hist["count"] == 5 and [x["ts_ms"] for x in hist["rows"]] == sorted(x["ts_ms"] for x in hist["rows"])
        async with s.get(url + "/api/spreads") as r:
            assert r.status == 400 and "pair: required" in (await r.json())["error"]
        async with s.get(url + "/api/spreads", params={"pair": "SOL", "limit": "0"}) as r:
            assert r.status == 400
        async with s.get(url + "/api/events") as r:
            kinds = {e["kind"] for e in (await r.json())["events"]}
        assert "operator" in kinds
    finally:
        await s.close()
        await engine.stop()
    run = engine.run_path
    journal = [json.loads(line) for line in (run / "operator.jsonl").read_text().splitlines()]
    actions = [(j["action"], j["ok"]) for j in journal]
    assert ("params", True) in actions and ("params", False) in actions and ("pause", True) in actions
    assert stat.S_IMODE((run / "operator.jsonl").stat().st_mode) == 0o600
    # the binary event journal holds each action too, in order with the market data, and the report lists them
    ops = [ev for ev in read_journal(run / "events.journal") if ev.kind == "operator"]
    assert [(o.action, json.loads(o.detail)["ok"]) for o in ops] == actions
    assert json.loads(ops[0].detail)["changes"] == {"enter_z_high": 2.5}
    report = (write_report(run)["report"]).read_text()
    assert "## Operator actions" in report and "| pause |" in report and "| params |" in report
    history = tmp_path / "runs" / "history.sqlite"
    assert history.exists() and stat.S_IMODE(history.stat().st_mode) == 0o600

    # the history is kept across runs: a second run reads the first one's samples
    first_count = len(__import__("sqlite3").connect(history).execute("SELECT * FROM spreads").fetchall())
    engine2 = await start_paper(cfg)
    try:
        async with aiohttp.ClientSession() as s2, s2.get(
                f"http://127.0.0.1:{engine2.control.port}/api/spreads", params={"pair": "SOL", "limit": "100000"},
                headers={"Authorization": f"Bearer {TOKEN}"}) as r:
            assert (await r.json())["count"] >= first_count > 0
        engine2.control.desk.tick()  # records this run's figure now
        today = engine2.control.desk.snapshot()["pnl_today"]
        assert today["runs"] == 2 and today["day"] == time.strftime("%Y-%m-%d", time.gmtime())
    finally:
        await engine2.stop()


async def test_cross_arb_flatten_leaves_both_venues_flat(tmp_path):
    # a wide-open entry so that the arb holds positions on both venues soon
    cfg = paper_config(tmp_path, "cross_arb", params={"entry_threshold_bps": -100, "take_profit_bps": -1000,
                                                       "max_hold_s": 600, "symbol_filters": ["SOL"]})
    engine = await start_paper(cfg)
    url = f"http://127.0.0.1:{engine.control.port}"
    s = await signed_in(engine.control.port)
    try:
        held = await until(lambda: all(engine.positions.get(v, sym).size != 0 for v, sym in
                                       (("backpack", "SOL_USDC_PERP"), ("lighter", "SOL"))), 30)
        assert held, engine.status()
        async with s.get(url + "/api/snapshot") as r:
            snap = await r.json()
        texts = {p["venue"] + ":" + p["symbol"]: p["position_text"] for p in snap["positions"]}
        assert texts["backpack:SOL_USDC_PERP"] in ("0.1 SOL", "-0.1 SOL"), texts
        assert snap["view"]["kind"] == "pairs" and snap["view"]["pairs"][0]["unit"] == "bps"
        markers = snap["view"]["pairs"][0]["markers"]  # the strategy's `signals` records: the entry
        assert markers and markers[0]["action"] in ("enter_long_backpack", "enter_short_backpack"), markers
        async with s.post(url + "/api/flatten", json={}, headers=HDR) as r:
            rep = await r.json()
        assert rep["flat"] is True and set(rep["venues"]) == {"backpack", "lighter"}, rep
        assert rep["risk_state"] == "reducing"
        for venue, conn in engine.connectors.items():
            held = await conn.positions()
            assert all(p.size == 0 for p in held.values()), (venue, held)
        assert "0 SOL" in engine.status()["positions"].values()
    finally:
        await s.close()
        await engine.stop()


@pytest.mark.parametrize(("config", "kind"), [("avellaneda", "mm"), ("geometric_grid", "ladder")])
async def test_market_maker_and_ladder_views(tmp_path, config, kind):
    engine = await start_paper(paper_config(tmp_path, config))
    try:
        desk = engine.control.desk
        if kind == "mm":
            assert await until(lambda: any(len(s) >= 2 and s[-1][2] is not None for s in desk.mm_series.values()), 20)
        else:
            assert await until(lambda: len(engine.tracker.open_orders()) >= 2, 20)
        async with aiohttp.ClientSession() as s, s.get(
                f"http://127.0.0.1:{engine.control.port}/api/snapshot",
                headers={"Authorization": f"Bearer {TOKEN}"}) as r:
            snap = await r.json()
        view = snap["view"]
        assert view["kind"] == kind
        if kind == "mm":
            (market, rows), = view["markets"].items()
            mid, reservation = rows[-1][1], rows[-1][2]
            assert market == "backpack:SOL_USDC_PERP" and abs(reservation - mid) / mid < 0.01
            names = {g["name"] for g in view["gauges"]}
            assert {"mm_reservation_price", "mm_adaptive_netmax", "mm_spread_gauge"} <= names
        orders = [o for p in snap["positions"] for o in p["open_orders"]]
        assert orders and all(o["price"] > 0 and o["size"] > 0 for o in orders)
    finally:
        await engine.stop()


async def test_the_generated_token_is_never_logged_shown_or_journaled(tmp_path, caplog):
    import logging

    from typer.testing import CliRunner

    from xtb.cli import app

    cfg = paper_config(tmp_path, "zscore_monitor")
    del cfg["control"]["token"]  # generated per run, written 0600 to the state dir
    caplog.set_level(logging.DEBUG)
    engine = await start_paper(cfg)
    run_dir = cfg["general"]["run_dir"]
    try:
        token = (tmp_path / "runs" / "state" / "control.token").read_text().strip()
        res = await asyncio.to_thread(CliRunner().invoke, app, ["panel", "--run-dir", run_dir], env={})
        assert res.exit_code == 0, res.output
        link = res.output.strip()
        assert link == f"http://127.0.0.1:{engine.control.port}/login#token={token}"
        s = await signed_in(engine.control.port, token)
        try:
            async with s.post(f"http://127.0.0.1:{engine.control.port}/api/params",
                              json={"changes": {"exit_z_low": 0.4}}, headers=HDR) as r:
                assert r.status == 200
            async with s.get(f"http://127.0.0.1:{engine.control.port}/api/snapshot") as r:
                assert token not in await r.text()
        finally:
            await s.close()
    finally:
        await engine.stop()
    assert not any(token in rec.getMessage() for rec in caplog.records)
    assert token not in (engine.run_path / "operator.jsonl").read_text()
    assert not (tmp_path / "runs" / "state" / "control.token").exists()  # removed at stop


async def test_risk_limits_change_live_and_a_rule_turns_off(tmp_path):
    cfg = paper_config(tmp_path, "zscore_monitor", extra={"risk": {"single_max": 5, "halt_seconds": 60}})
    engine = await start_paper(cfg)
    url = f"http://127.0.0.1:{engine.control.port}"
    s = await signed_in(engine.control.port)
    try:
        async with s.get(url + "/api/params") as r:
            risk = (await r.json())["risk"]
        assert risk["single_max"]["value"] == 5 and risk["net_max"]["value"] is None and "shock_pct" not in risk
        async with s.post(url + "/api/risk/limits", json={"changes": {"single_max": 2, "net_max": 3}},
                          headers=HDR) as r:
            assert r.status == 200 and (await r.json())["risk"]["single_max"] == 2
        assert engine.risk.config.single_max == 2 and engine.risk.config.net_max == 3
        async with s.post(url + "/api/risk/limits", json={"changes": {"single_max": None}}, headers=HDR) as r:
            assert r.status == 200
        assert engine.risk.config.single_max is None  # the rule is off
        for changes, needle in (({"single_max": -1}, "risk.single_max"), ({"shock_pct": 0.1}, "cannot change while"),
                                ({"pnl_min": 5, "pnl_max": 1}, "pnl_min (5.0) must be below pnl_max")):
            async with s.post(url + "/api/risk/limits", json={"changes": changes}, headers=HDR) as r:
                assert r.status == 400 and needle in (await r.json())["error"], changes
        assert engine.risk.config.net_max == 3 and engine.risk.config.pnl_min is None  # nothing half-applied
    finally:
        await s.close()
        await engine.stop()
    actions = [json.loads(x) for x in (engine.run_path / "operator.jsonl").read_text().splitlines()]
    assert [(a["action"], a["ok"]) for a in actions] == [("risk_limits", True)] * 2 + [("risk_limits", False)] * 3
