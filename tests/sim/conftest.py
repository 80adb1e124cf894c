"""Fixtures for the simulator tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from xtb.sim import Exchange, VenueRules, VirtualClock

from .helpers import eth_spec


@pytest.fixture
def make_exchange() -> Callable[..., Exchange]:
    def make(rules: VenueRules | None = None, **spec: object) -> Exchange:
        ex = Exchange(rules or VenueRules(), VirtualClock())
        ex.add_market(eth_spec(**spec))
        return ex

    return make


@pytest.fixture
def ex(make_exchange: Callable[..., Exchange]) -> Exchange:
    return make_exchange()
