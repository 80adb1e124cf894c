"""Live parameter changes: validated by the strategy's params class, limited to its live names; a refused
change leaves the running params exactly as they were (property test)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies.zscore_monitor import ZScoreMonitor, ZScoreMonitorParams
from xtb.control.live_params import ParamChangeError, apply_param_changes, param_schema


class Ctx:
    log = __import__("logging").getLogger("test.live_params")


def monitor() -> ZScoreMonitor:
    return ZScoreMonitor(Ctx(), ZScoreMonitorParams())  # type: ignore[arg-type]


numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64), st.integers(-10, 10),
                    st.text(max_size=3), st.none(), st.booleans())


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["enter_z_high", "exit_z_low", "stop_z", "lookback_secs", "min_samples"]),
                       numbers, min_size=1, max_size=3))
def test_a_change_is_applied_whole_or_not_at_all(changes):
    s = monitor()
    before = s.params
    try:
        new = apply_param_changes(s, changes)
    except ParamChangeError as e:
        assert s.params is before  # nothing changed
        assert any(str(e).startswith(k) for k in changes) or "exit_z_low < enter_z_high < stop_z" in str(e)
        return
    assert s.params is new
    assert new.exit_z_low < new.enter_z_high < new.stop_z
    # Each accepted value is what the params class itself makes of it (e.g. the text "1" from a form -> 1.0).
    expected = type(before).model_validate({**before.model_dump(), **changes})
    for k in changes:
        value = getattr(new, k)
        assert value == getattr(expected, k) and not (isinstance(value, float) and not math.isfinite(value))


def test_only_declared_names_change_live_and_the_schema_lists_them():
    s = monitor()
    with pytest.raises(ParamChangeError, match="pairs: cannot change while running"):
        apply_param_changes(s, {"pairs": []})
    with pytest.raises(ParamChangeError, match="changes: expected a non-empty object"):
        apply_param_changes(s, {})
    schema = param_schema(s)
    assert "pairs" not in schema and schema["enter_z_high"]["value"] == 2.0
    assert schema["enter_z_high"]["exclusiveMinimum"] == 0 and schema["mode"]["enum"] == ["reminder", "auto"]


def test_the_strategy_can_refuse_a_change_its_state_cannot_take():
    s = monitor()
    apply_param_changes(s, {"mode": "auto"})

    class Busy:
        spec = type("Spec", (), {"name": "SOL"})()
        phase = "open"

    s.pairs = [Busy()]  # type: ignore[list-item]
    with pytest.raises(ParamChangeError, match=r"mode: SOL \(open\) holds or is trading legs"):
        apply_param_changes(s, {"mode": "reminder"})
    assert s.params.mode == "auto"
