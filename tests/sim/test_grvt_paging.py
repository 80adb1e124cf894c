"""GRVT history paging (`limit` + `cursor`, newest first): reading page after page returns every row exactly
once and in order, also when newer rows arrive between pages; a bad cursor or limit is named."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xtb.sim.grvt.auth import GrvtError
from xtb.sim.grvt.venue import _page


@settings(max_examples=200, deadline=None)
@given(keys=st.sets(st.integers(1, 10**6), max_size=60), limit=st.integers(1, 25),
       arrivals=st.lists(st.integers(1, 5), max_size=8))  # fmt: skip
def test_pages_cover_every_row_once(keys: set[int], limit: int, arrivals: list[int]) -> None:
    table = sorted(keys, reverse=True)
    expected = list(table)
    top = max(keys, default=0)
    seen: list[int] = []
    cursor = ""
    for i in range(len(table) + 2):
        rows = [(k, k) for k in table]
        page, cursor = _page(rows, {"limit": limit, "cursor": cursor}, 500)
        seen += page
        if not cursor:
            break
        if i < len(arrivals):  # newer rows arrive at the front between two pages
            new = list(range(top + 1, top + 1 + arrivals[i]))
            top += arrivals[i]
            table = sorted(new, reverse=True) + table
    assert seen == expected


def test_bad_cursor_and_limit_are_named() -> None:
    with pytest.raises(GrvtError, match="cursor"):
        _page([(1, 1)], {"cursor": "!!"}, 500)
    with pytest.raises(GrvtError, match="limit"):
        _page([(1, 1)], {"limit": "x"}, 500)
    assert _page([(k, k) for k in range(5000, 0, -1)], {"limit": 5000}, 500)[0][-1] == 4001  # capped at 1000
