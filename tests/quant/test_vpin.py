"""VPIN: bucket arithmetic and the bounds the panel and alerts rely on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xtb.quant.vpin import Vpin


def test_one_sided_flow_is_one_and_balanced_flow_is_zero():
    v = Vpin(bucket_volume=10, window=4)
    assert v.value is None
    for _ in range(4):
        v.add(True, 10)
    assert v.value == 1.0 and v.buckets == 4
    for _ in range(4):
        v.add(True, 5)
        v.add(False, 5)
    assert v.value == 0.0  # the window holds only the four balanced buckets


def test_a_large_print_is_split_across_buckets():
    v = Vpin(bucket_volume=10, window=10)
    v.add(False, 7)
    v.add(True, 18)  # 3 completes bucket 1 (7 sell / 3 buy), 10 fills bucket 2, 5 stays open
    assert v.buckets == 2
    assert v.value == pytest.approx(((7 - 3) / 10 + 1.0) / 2)


@given(st.lists(st.tuples(st.booleans(), st.integers(1, 500)), max_size=200), st.integers(1, 300), st.integers(1, 20))
def test_bounded_and_every_unit_of_volume_lands_in_exactly_one_bucket(trades, bucket, window):
    v = Vpin(bucket, window)
    for buys, size in trades:
        v.add(buys, size)
    total = sum(size for _, size in trades)
    assert v.buckets == total // bucket
    assert v.value is None if v.buckets == 0 else 0.0 <= v.value <= 1.0


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="bucket_volume"):
        Vpin(0)
    with pytest.raises(ValueError, match="window"):
        Vpin(10, 0)
