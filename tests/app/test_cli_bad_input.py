"""Operator mistakes at the command line and in configs: each gets one line naming the key or file and exit
status 2, never a traceback; a property test over config values keeps it so."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from xtb.cli import app
from xtb.config import ConfigError, load_config
from xtb.preflight import preflight

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, **over: Any) -> Path:
    """configs/perp_mm.yaml with the test's directories and overrides (section -> dict merged)."""
    data = yaml.safe_load((ROOT / "configs" / "perp_mm.yaml").read_text())
    data["general"].update(log_dir=str(tmp_path / "logs"), run_dir=str(tmp_path / "runs"),
                           lock_dir=str(tmp_path / "locks"))
    for section, values in over.items():
        if isinstance(values, dict) and isinstance(data.get(section), dict):
            data[section].update(values)
        else:
            data[section] = values
    path = tmp_path / "bot.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _run(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    res = runner.invoke(app, args, env=env)
    out = res.output
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise AssertionError(f"raised {res.exception!r}: {out}")
    return res.exit_code, out


def _one_line_error(code: int, out: str, *names: str) -> None:
    assert code == 2, out
    assert "Traceback" not in out, out
    # log records the run wrote before it stopped are not the error; the error is one line of its own
    lines = [ln for ln in out.splitlines() if ln.strip() and not re.match(r"\d{4}-\d\d-\d\d ", ln)]
    assert len(lines) == 1, out
    for name in names:
        assert name in lines[0], (name, out)


@pytest.fixture
def busy_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    yield sock.getsockname()[1]
    sock.close()


def test_a_bad_risk_key_is_named(tmp_path):
    cfg = _config(tmp_path, risk={"netMax": "lots"})
    _one_line_error(*_run(["run", str(cfg), "--duration", "1"]), "risk", "netMax")


def test_an_unknown_strategy_is_named(tmp_path):
    cfg = _config(tmp_path, strategy={"name": "no_such_strategy", "params": {}})
    _one_line_error(*_run(["run", str(cfg), "--duration", "1"]), "strategy.name", "no_such_strategy")


def test_a_symbol_the_venue_does_not_list_is_named(tmp_path):
    cfg = _config(tmp_path, venues={"backpack": {"symbols": ["DOGE_USDC_PERP"]}},
                  strategy={"name": "perp_mm", "params": {"venue": "backpack", "symbol": "DOGE_USDC_PERP"}})
    _one_line_error(*_run(["run", str(cfg), "--duration", "1"]), "DOGE_USDC_PERP")


def test_a_control_port_in_use_is_named(tmp_path, busy_port):
    cfg = _config(tmp_path, control={"port": busy_port})
    _one_line_error(*_run(["run", str(cfg), "--duration", "1"]), "control.port", str(busy_port), "in use")


def test_a_metrics_port_in_use_is_named(tmp_path, busy_port):
    cfg = _config(tmp_path, telemetry={"prometheus_port": busy_port})
    _one_line_error(*_run(["run", str(cfg), "--duration", "1"]), "telemetry.prometheus_port", "in use")


def test_an_unwritable_log_dir_is_named(tmp_path):
    # /proc takes no new directories, not even from root
    cfg = _config(tmp_path, general={"log_dir": "/proc/xtb-test-logs"})
    _one_line_error(*_run(["run", str(cfg), "--duration", "1"]), "general.log_dir", "/proc/xtb-test-logs")


def test_a_log_dir_that_is_a_file_is_named(tmp_path):
    (tmp_path / "afile").write_text("x")
    cfg = _config(tmp_path, general={"log_dir": str(tmp_path / "afile")})
    _one_line_error(*_run(["run", str(cfg), "--duration", "1"]), "general.log_dir", "not a directory")


def test_a_run_dir_pointing_at_a_file_is_named(tmp_path):
    (tmp_path / "afile").write_text("x")
    cfg = _config(tmp_path, general={"run_dir": str(tmp_path / "afile")})
    _one_line_error(*_run(["run", str(cfg), "--duration", "1"]), "general.run_dir", "not a directory")


def test_a_config_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("strategy:\n  name: caf\xe9\n".encode("latin-1"))
    _one_line_error(*_run(["run", str(path), "--duration", "1"]), str(path), "UTF-8")


def test_a_log_level_that_is_not_a_level_is_named(tmp_path):
    cfg = _config(tmp_path)
    _one_line_error(*_run(["run", str(cfg), "--duration", "1"], env={"XTB_LOG_LEVEL": "LOUD"}),
                    "general.log_level", "LOUD")


def test_an_absurd_order_quantity_fails_validation(tmp_path):
    cfg = _config(tmp_path, strategy={"name": "perp_mm", "params": {
        **yaml.safe_load((ROOT / "configs/perp_mm.yaml").read_text())["strategy"]["params"],
        "order_quantity": "1e30"}})
    _one_line_error(*_run(["run", str(cfg), "--duration", "1"]), "strategy.params.order_quantity", "out of range")


@pytest.mark.parametrize("value", ["-5", "0", "nan", "inf"])
def test_a_duration_that_is_not_positive_is_refused(tmp_path, value):
    cfg = _config(tmp_path)
    _one_line_error(*_run(["run", str(cfg), "--duration", value]), "--duration")


def test_replay_with_a_bad_config_is_named(tmp_path):
    journal = tmp_path / "events.journal"
    journal.write_bytes(b"")
    bad = tmp_path / "bad.yaml"
    bad.write_text("general: [1, 2]\nstrategy: {name: perp_mm}\n")
    _one_line_error(*_run(["replay", str(journal), "--config", str(bad), "--no-progress"]), "general")


def test_replay_of_a_missing_journal_is_named(tmp_path):
    missing = tmp_path / "nope.journal"
    _one_line_error(*_run(["replay", str(missing), "--strategy", "perp_mm", "--no-progress"]), str(missing))


def test_replay_of_a_garbage_journal_is_named(tmp_path):
    garbage = tmp_path / "garbage.journal"
    garbage.write_bytes(os.urandom(4096))
    cfg = _config(tmp_path)
    _one_line_error(*_run(["replay", str(garbage), "--config", str(cfg), "--no-progress"]), str(garbage))


# --- the property: any value at any key is either accepted or named ----------------------------------------
KEYS = [
    "general.tick_interval_ms", "general.log_level", "general.seed", "general.uvloop", "general.log_dir",
    "control.port", "control.enabled", "telemetry.prometheus_port", "telemetry.stats_interval_s",
    "sim.updates_per_s", "sim.faults", "strategy.name", "strategy.params.order_quantity",
    "strategy.params.max_orders", "strategy.params.base_spread_percentage", "strategy.params.cycle_interval_s",
    "strategy.params.max_position", "risk.netMax", "risk.singleMax", "risk.haltSeconds", "risk.pnlMin",
    "venues.backpack.symbols", "venues.backpack.enabled",
]
VALUES = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40), st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(), st.none(), st.text(max_size=12),
    st.sampled_from(["1e30", "-1", "0", "nan", "inf", "LOUD", "chaos", "0.1", "[1, 2]", "{a: 1}"]),
    st.lists(st.integers(min_value=-3, max_value=3), max_size=3),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(KEYS), value=VALUES)
def test_any_config_value_is_accepted_or_named_in_one_line(tmp_path, key, value):
    path = _config(tmp_path)
    data = yaml.safe_load(path.read_text())
    node = data
    parts = key.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    path.write_text(yaml.safe_dump(data))
    try:
        cfg = load_config(path, env={})
        preflight(cfg, logs=False)
    except ConfigError as e:
        msg = str(e)
        assert "\n" not in msg, msg
        named = parts[0] if parts[0] != "strategy" or parts[1] == "name" else "strategy.params"
        assert named in msg or parts[-1] in msg, (key, value, msg)
