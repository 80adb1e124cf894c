"""parse_fixed / format_fixed: decimal text <-> integer units, no floats."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xtb._core import format_fixed, parse_fixed


@pytest.mark.parametrize(
    ("text", "decimals", "units"),
    [
        ("141", 2, 14100),
        ("141.25", 2, 14125),
        ("-0.5", 1, -5),
        ("86700.0", 0, 86700),
        ("1.94230", 4, 19423),
        (b"0.00000", 5, 0),
        (b"3327.46", 2, 332746),
    ],
)
def test_parse_fixed_accepts_plain_and_padded(text: str | bytes, decimals: int, units: int) -> None:
    assert parse_fixed(text, decimals) == units


BAD = ["", "1.945", "abc", "1e5", "1.2.3", ".5", "5.", " 1", "9223372036854775808"]


@pytest.mark.parametrize("text", BAD)
def test_parse_fixed_rejects_with_value_error_naming_the_text(text: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_fixed(text, 2 if text != "9223372036854775808" else 0)
    assert repr(text) in str(err.value) or f'"{text}"' in str(err.value)


def test_format_fixed() -> None:
    assert format_fixed(14125, 2) == "141.25"
    assert format_fixed(-5, 3) == "-0.005"
    assert format_fixed(86700, 0) == "86700"
    with pytest.raises(ValueError):
        format_fixed(1, 19)


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1), st.integers(min_value=0, max_value=18))
def test_round_trip(value: int, decimals: int) -> None:
    text = format_fixed(value, decimals)
    assert parse_fixed(text, decimals) == value
    assert parse_fixed(text + ("000" if decimals else ".000"), decimals) == value
