from pathlib import Path

import pytest

from xtb.config import ConfigError, apply_overrides, load_config

BASE = """
general: {mode: paper, tick_interval_ms: 500}
venues:
  backpack: {symbols: [SOL_USDC_PERP]}
  lighter: {symbols: [SOL]}
strategy:
  name: cross_arb
  params: {min_spread_bps: 5}
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "bot.yaml"
    p.write_text(text)
    return p


def test_loads_sections_with_defaults(tmp_path):
    cfg = load_config(write(tmp_path, BASE), env={})
    assert cfg.general.mode == "paper"
    assert cfg.general.tick_interval_ms == 500
    assert cfg.venues["backpack"].symbols == ["SOL_USDC_PERP"]
    assert cfg.strategy.params == {"min_spread_bps": 5}
    assert cfg.telemetry.stats_interval_s == 60.0


def test_env_and_set_overrides_in_order(tmp_path):
    env = {
        "XTB_LOG_LEVEL": "DEBUG",
        "XTB__strategy__params__min_spread_bps": "7",
        "XTB__general__tick_interval_ms": "250",
    }
    cfg = load_config(write(tmp_path, BASE), env=env, sets=["strategy.params.min_spread_bps=9", "general.uvloop=false"])
    assert cfg.general.log_level == "DEBUG"
    assert cfg.general.tick_interval_ms == 250
    assert cfg.strategy.params["min_spread_bps"] == 9  # --set beats the environment
    assert cfg.general.uvloop is False


def test_xtb_config_env_names_the_file(tmp_path):
    p = write(tmp_path, BASE)
    assert load_config(None, env={"XTB_CONFIG": str(p)}).strategy.name == "cross_arb"
    with pytest.raises(ConfigError, match="XTB_CONFIG"):
        load_config(None, env={})


@pytest.mark.parametrize(
    ("sets", "needle"),
    [
        (["general.tick_interval_ms=fast"], "general.tick_interval_ms"),
        (["general.mode=yolo"], "general.mode"),
        (["general.colour=blue"], "general.colour: unknown key"),
        (["telemetry.prometheus_port=70000"], "telemetry.prometheus_port"),
        (["venues.backpack.symbols=SOL"], "venues.backpack.symbols"),
    ],
)
def test_bad_values_name_the_key(tmp_path, sets, needle):
    with pytest.raises(ConfigError) as ei:
        load_config(write(tmp_path, BASE), env={}, sets=sets)
    assert needle in str(ei.value)


@pytest.mark.parametrize(
    ("sets", "needle"),
    [
        (["general.order_watch_quiet_s=0"], "general.order_watch_quiet_s: Input should be greater than 0"),
        (["general.order_watch_quiet_s=-1"], "general.order_watch_quiet_s"),
        (["general.order_watch_quiet_s=.inf"], "general.order_watch_quiet_s"),
        (["general.order_watch_max_interval_s=0"], "general.order_watch_max_interval_s"),
        (["general.order_watch_quiet_s=2", "general.order_watch_max_interval_s=1"],
         "general.order_watch_max_interval_s: Value error, must be at least general.order_watch_quiet_s (2.0)"),
        (["general.order_watch_max_interval_s=soon"], "general.order_watch_max_interval_s"),
    ],
)
def test_order_watch_timing_errors_name_the_key(tmp_path, sets, needle):
    with pytest.raises(ConfigError) as ei:
        load_config(write(tmp_path, BASE), env={}, sets=sets)
    assert needle in str(ei.value) and "\n" not in str(ei.value)


def test_order_watch_timing_defaults_and_overrides(tmp_path):
    cfg = load_config(write(tmp_path, BASE), env={})
    assert (cfg.general.order_watch_quiet_s, cfg.general.order_watch_max_interval_s) == (1.0, 16.0)
    cfg = load_config(write(tmp_path, BASE), env={"XTB__general__order_watch_quiet_s": "0.25"},
                      sets=["general.order_watch_max_interval_s=0.25"])
    assert (cfg.general.order_watch_quiet_s, cfg.general.order_watch_max_interval_s) == (0.25, 0.25)


def test_missing_strategy_named(tmp_path):
    with pytest.raises(ConfigError, match="strategy: required key is missing"):
        load_config(write(tmp_path, "general: {mode: paper}\n"), env={})


def test_bad_yaml_and_bad_set_syntax(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "general: [unclosed\n"), env={})
    with pytest.raises(ConfigError, match=r"key\.path=value"):
        apply_overrides({}, env={}, sets=["novalue"])
    with pytest.raises(ConfigError, match="not a section"):
        apply_overrides({"general": 3}, env={}, sets=["general.mode=paper"])
