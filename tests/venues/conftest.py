"""Shared fixtures for connector tests: the conformance suite's fixtures live on the base class
(tests/venues/conformance.py); this file only keeps every test here bounded in time."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/venues" in str(item.fspath) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(60))
