"""Notifications through apprise to a local HTTP receiver, a failing or stuck channel never holds up the
event loop; the alert rules; the shipped Prometheus rules (promtool) match the bot's defaults."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st
from panel_helpers import paper_config, start_paper, until

from xtb.config import AlertsConfig, ConfigError, validate
from xtb.control.alerts import AlertRules, Observation
from xtb.control.notify import Notifier

RULES = Path(__file__).resolve().parents[2] / "xtb" / "telemetry" / "grafana" / "xtb_alerts.yml"


class Receiver:
    """A webhook on 127.0.0.1 that keeps what it gets; `hold` makes it answer only once released."""

    def __init__(self, hold: bool = False) -> None:
        self.got: list[dict] = []
        self.release = asyncio.Event()
        if not hold:
            self.release.set()
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def _hook(self, request: web.Request) -> web.Response:
        self.got.append(await request.json())
        await self.release.wait()
        return web.json_response({})

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self.runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc) -> None:
        self.release.set()
        assert self.runner is not None
        await self.runner.cleanup()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"


async def test_messages_reach_a_local_webhook_and_filters_apply():
    async with Receiver() as rx:
        n = Notifier([rx.url], events={"signal", "alert"}, title="xtb test")
        try:
            assert n.send("signal", "SOL enter_short_a at z=2.31")
            assert not n.send("fill", "filtered out")
            assert await until(lambda: len(rx.got) == 1, 10)
        finally:
            await asyncio.to_thread(n.close, 5)
        assert rx.got[0]["message"] == "SOL enter_short_a at z=2.31" and rx.got[0]["title"] == "xtb test: signal"
        assert n.sent == 1 and n.failed == 0
        assert "127.0.0.1" not in repr(n) and repr(n).startswith("Notifier(1 channels: json://")


async def test_a_stuck_and_a_dead_channel_never_hold_up_the_loop():
    async with Receiver(hold=True) as stuck:
        # the dead channel: a port nothing listens on
        n = Notifier([stuck.url, "json://127.0.0.1:9/none"], queue_size=3)
        ticks = 0

        async def beat():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        task = asyncio.create_task(beat())
        try:
            results = [n.send("alert", f"a{i}") for i in range(10)]  # the worker is stuck on the first
            await asyncio.sleep(0.3)
            assert ticks >= 10  # the loop kept running while the channel held its request
            assert results[0] and not all(results) and n.dropped >= 6
            assert len(stuck.got) == 1
        finally:
            stuck.release.set()
            task.cancel()
            await asyncio.to_thread(n.close, 10)
        assert n.failed >= 1  # the dead channel counted, nothing raised


def test_a_bad_notification_url_is_a_config_error_that_hides_the_url():
    with pytest.raises(ValueError, match=r"notify.urls\[0\]: not a notification URL apprise knows \(nope://"):
        Notifier(["nope://secret-token@host"])
    with pytest.raises(ValueError, match=r"notify\.events: unknown"):
        Notifier([], events={"gossip"})
    with pytest.raises(ConfigError) as e:
        validate({"strategy": {"name": "x"}, "notify": {"urls": "tgram://secret-bot-token/123"}})
    assert "secret-bot-token" not in str(e.value)
    with pytest.raises(ConfigError, match=r"notify\.urls: .*\[0\] is not a notification URL") as e:
        validate({"strategy": {"name": "x"}, "notify": {"urls": ["nope://secret-bot-token@host"]}})
    assert "secret-bot-token" not in str(e.value)


async def test_a_reminder_signal_of_a_paper_run_reaches_the_webhook(tmp_path):
    async with Receiver() as rx:
        cfg = paper_config(tmp_path, "zscore_monitor",
                           params={"enter_z_high": 0.5, "exit_z_low": 0.1, "stop_z": 50, "min_samples": 5,
                                   "min_hold_secs": 0.5, "min_reentry_secs": 0.5, "min_liquidity_usd": 0},
                           extra={"notify": {"urls": [rx.url], "events": ["signal"]}})
        engine = await start_paper(cfg)
        try:
            assert await until(lambda: any("signal SOL" in g["message"] for g in rx.got), 30), rx.got
        finally:
            await engine.stop()
        msg = next(g["message"] for g in rx.got if "signal SOL" in g["message"])
        assert msg.startswith("[zscore_monitor] signal SOL: ") and "[reminder mode]" in msg


# --- alert rules ----------------------------------------------------------------------------------------
def obs(now: float, **kw) -> Observation:
    return Observation(now=now, **kw)


def test_each_rule_fires_and_resolves():
    rules = AlertRules(AlertsConfig())
    assert rules.evaluate(obs(0, rest_requests={"lighter": 0})) == []
    fired = {a.name for a in rules.evaluate(obs(30, rest_requests={"lighter": 900}, orders_placed=20,
                                                orders_failed=5, consecutive_failures=5,
                                                positions={"lighter:SOL": 0}, book_age_s={"lighter:SOL": 12},
                                                resyncs=5, unresolved_orders=1, t2o_p99_ms=80))}
    # 900 in 30 s = 1800/min >= 80% of 2000; 15/20 = 75% < 80%
    assert fired == {"api_budget:lighter", "success_rate", "consecutive_failures", "stale_book:lighter:SOL",
                     "resync_storm", "latency_over_budget"}
    later = rules.evaluate(obs(61, rest_requests={"lighter": 900}, orders_placed=20, orders_failed=5,
                               positions={"lighter:SOL": 10}, book_age_s={"lighter:SOL": 0}, resyncs=5,
                               unresolved_orders=1))
    assert "unresolved_orders" in {a.name for a in later if a.firing}
    resolved = {a.name for a in later if not a.firing}
    assert {"consecutive_failures", "stale_book:lighter:SOL", "latency_over_budget"} <= resolved
    stuck = rules.evaluate(obs(61 + 600, rest_requests={"lighter": 900}, orders_placed=20, orders_failed=5,
                               positions={"lighter:SOL": 10}, resyncs=5))
    assert "inventory_stuck:lighter:SOL" in {a.name for a in stuck if a.firing}


def test_a_position_that_returns_to_zero_is_not_stuck():
    rules = AlertRules(AlertsConfig(inventory_stuck_s=10))
    for t in range(0, 100, 2):
        changed = rules.evaluate(obs(t, positions={"v:S": 0 if t % 8 == 0 else 5}))
        assert not any(a.name.startswith("inventory_stuck") for a in changed)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.booleans()), min_size=1, max_size=60))
def test_success_rate_alert_matches_its_definition(steps):
    """Whatever the order flow, the alert is on exactly when the window's success rate is below the floor."""
    cfg = AlertsConfig(success_window_s=1e9, success_min_orders=10)
    rules = AlertRules(cfg)
    placed = failed = 0
    rules.evaluate(obs(0))
    for i, (n, fail) in enumerate(steps, start=1):
        placed += n
        failed += n if fail else 0
        rules.evaluate(obs(i, orders_placed=placed, orders_failed=failed))
        expect = placed >= 10 and 100.0 * (placed - failed) / placed < cfg.min_success_rate_pct
        assert ("success_rate" in rules.active) is expect


# --- the shipped Prometheus rules -----------------------------------------------------------------------
def test_prometheus_rules_use_the_bots_default_thresholds():
    groups = yaml.safe_load(RULES.read_text())["groups"]
    rules = {r["labels"]["xtb_alert"]: r for g in groups for r in g["rules"]}
    c = AlertsConfig()
    assert set(rules) == {"api_budget", "success_rate", "inventory_stuck", "consecutive_failures", "stale_book",
                          "resync_storm", "unresolved_orders", "latency_over_budget"}

    def nums(expr: str) -> list[float]:
        return [float(x) for x in re.findall(r"(?<![\w\[])(\d+(?:\.\d+)?)(?![\w\]])", expr)]

    assert nums(rules["api_budget"]["expr"])[-2:] == [c.api_budget_pct / 100, c.api_budget_per_min]
    assert c.min_success_rate_pct in nums(rules["success_rate"]["expr"])
    assert c.success_min_orders in nums(rules["success_rate"]["expr"])
    assert rules["inventory_stuck"]["for"] == f"{int(c.inventory_stuck_s // 60)}m"
    assert nums(rules["consecutive_failures"]["expr"]) == [c.consecutive_failures]
    assert nums(rules["stale_book"]["expr"]) == [c.stale_book_s]
    assert nums(rules["resync_storm"]["expr"]) == [c.resync_storm_per_min]
    assert rules["unresolved_orders"]["for"] == f"{int(c.unresolved_s)}s"
    assert nums(rules["latency_over_budget"]["expr"])[-1] == c.latency_budget_ms / 1000


def test_prometheus_rules_pass_promtool():
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian: apt-get install prometheus)")
    res = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS: 8 rules found" in res.stdout
