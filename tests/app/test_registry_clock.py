import asyncio

import pytest
from pydantic import BaseModel, ConfigDict

from xtb.engine.clock import Clock
from xtb.engine.registry import StrategyNotFound, get_strategy, register_strategy


class DemoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    spread_bps: float = 5.0
    levels: int


@register_strategy("test_demo", params=DemoParams)
class DemoStrategy:
    """A strategy used by the registry tests."""


def test_register_and_parse_params():
    spec = get_strategy("test_demo")
    assert spec.cls is DemoStrategy
    assert spec.summary == "A strategy used by the registry tests."
    p = spec.parse_params({"levels": 3})
    assert p.levels == 3 and p.spread_bps == 5.0


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"levels": "many"}, "strategy.params.levels"),
        ({}, "strategy.params.levels: required"),
        ({"levels": 1, "colour": "red"}, "strategy.params.colour: unknown parameter for test_demo"),
    ],
)
def test_bad_params_name_the_field(raw, needle):
    with pytest.raises(ValueError) as ei:
        get_strategy("test_demo").parse_params(raw)
    assert needle in str(ei.value)


def test_unknown_and_duplicate_names():
    with pytest.raises(StrategyNotFound, match="nope"):
        get_strategy("nope")
    with pytest.raises(ValueError, match="already registered"):
        register_strategy("test_demo", params=DemoParams)(type("Other", (), {}))


async def test_clock_ticks_without_drift_and_survives_a_failing_handler():
    seen: list[int] = []
    fake_now = iter(range(1000, 100000, 10))
    clock = Clock(10, time_ms=lambda: next(fake_now))

    def bad(now_ms: int) -> None:
        raise RuntimeError("boom")

    async def good(now_ms: int) -> None:
        seen.append(now_ms)

    clock.add_tick_handler(bad)
    clock.add_tick_handler(good)
    clock.start()
    for _ in range(200):
        if len(seen) >= 5:
            break
        await asyncio.sleep(0.01)
    await clock.stop()
    assert len(seen) >= 5
    assert seen == sorted(seen)
    assert not clock.running


async def test_clock_skips_missed_ticks_instead_of_queueing():
    clock = Clock(5)
    calls = 0

    def slow(now_ms: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            import time

            time.sleep(0.05)  # blocks the loop for ~10 intervals

    clock.add_tick_handler(slow)
    clock.start()
    for _ in range(200):
        if calls >= 3:
            break
        await asyncio.sleep(0.005)
    await clock.stop()
    assert clock.skipped >= 5


def test_clock_rejects_bad_interval():
    with pytest.raises(ValueError, match="interval_ms"):
        Clock(0)


def test_a_shadowing_namespace_package_is_reported(tmp_path, monkeypatch):
    import sys
    import types

    from xtb.engine import registry

    # What the import system makes of a `strategies/` folder without __init__.py that comes first.
    shadow = types.ModuleType("strategies")
    shadow.__path__ = [str(tmp_path / "strategies")]  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "strategies", shadow)
    monkeypatch.setattr(registry, "_discovered", False)
    with pytest.raises(ImportError, match="namespace package"):
        registry.discover()
