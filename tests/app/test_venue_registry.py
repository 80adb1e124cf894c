"""The venue registry and contract: built-in venues found by name, third-party venues by entry point or
`register()`, and everything that names a venue (config validation, the engine's connector factory,
client-id ranges, symbol rules) asking the registry instead of naming venues itself."""

from __future__ import annotations

from dataclasses import replace
from importlib.metadata import EntryPoint

import pytest

from xtb.config import ConfigError, validate
from xtb.venues import registry
from xtb.venues.contract import Connector, VenueSpec
from xtb.venues.registry import canonical
from xtb.venues.symbols import Canonical


def test_builtin_venues_are_found_by_name_with_their_facts() -> None:
    bp, lt = registry.venue_spec("backpack"), registry.venue_spec("lighter")
    assert bp.client_id_range == (1, 2**32 - 1) and lt.client_id_range == (1, 2**48 - 1)
    assert bp.canonical("kPEPE_USDC_PERP", None) == Canonical("PEPE", 1000)
    assert lt.canonical("1000PEPE", None) == Canonical("PEPE", 1000)
    assert bp.rate_limits({"requests_per_second": 7})["pools"]["rest"]["refill"] == 7
    assert "sendTx" in lt.rate_limits({})["keys"]
    assert (bp.sim_dialect, lt.sim_dialect) == ("backpack", "lighter")
    assert {"backpack", "lighter"} <= set(registry.known_venues())


def test_unknown_venue_error_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"venue 'kraken': no such venue \(known: (.+, )?backpack, (.+, )?lighter"):
        registry.venue_spec("kraken")
    with pytest.raises(ConfigError, match=r"venues\.kraken.*unknown venue 'kraken'"):
        validate({"strategy": {"name": "smoke_test"}, "venues": {"kraken": {}}})


@pytest.fixture
def extra_venue():
    """A venue that exists only through its registration (a copy of Backpack's facts under a new name)."""
    spec = replace(registry.venue_spec("backpack"), name="extra", core_venue="extra",
                   client_id_range=(10, 99), canonical=lambda s, a: Canonical(s.upper()))
    registry.register(spec)
    yield spec
    registry.unregister("extra")


def test_a_registered_venue_is_known_to_config_symbols_and_client_ids(extra_venue: VenueSpec, tmp_path) -> None:
    cfg = validate({"strategy": {"name": "smoke_test"}, "venues": {"extra": {"symbols": ["abc"]}}})
    assert list(cfg.venues) == ["extra"]
    assert canonical("extra", "abc") == Canonical("ABC")
    from xtb.orders.client_ids import ClientIdAllocator

    ids = ClientIdAllocator.for_venue(tmp_path, "extra", "acct", id_range=extra_venue.client_id_range)
    assert ids.range == (10, 99) and 10 <= ids.next() <= 99
    with pytest.raises(ValueError, match="already registered"):
        registry.register(replace(extra_venue, summary="another"))


def test_entry_points_register_third_party_venues(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = replace(registry.venue_spec("backpack"), name="plugged", core_venue="plugged")
    import sys
    import types

    module = types.ModuleType("xtb_test_plugged_venue")
    module.SPEC = spec  # type: ignore[attr-defined]
    bad = types.ModuleType("xtb_test_bad_venue")
    bad.SPEC = "not a spec"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(sys.modules, bad.__name__, bad)
    eps = [EntryPoint("plugged", f"{module.__name__}:SPEC", registry.ENTRY_POINT_GROUP),
           EntryPoint("broken", f"{bad.__name__}:SPEC", registry.ENTRY_POINT_GROUP)]
    monkeypatch.setattr(registry, "entry_points", lambda group: eps if group == registry.ENTRY_POINT_GROUP else [])
    monkeypatch.setattr(registry, "_entry_points_loaded", False)
    try:
        assert registry.venue_spec("plugged") is spec
        assert "plugged" in registry.known_venues() and "broken" not in registry.known_venues()
    finally:
        registry.unregister("plugged")


def test_spec_refuses_a_bad_client_id_range() -> None:
    with pytest.raises(ValueError, match="client_id_range"):
        replace(registry.venue_spec("backpack"), client_id_range=(0, 5))


def test_built_connectors_satisfy_the_contract() -> None:
    import base64

    from nacl.signing import SigningKey

    from xtb import _core
    from xtb.venues.backpack import BackpackConfig, BackpackConnector

    ring = _core.EventRing(1024)
    sk = SigningKey.generate()
    conn = BackpackConnector(BackpackConfig(), base64.b64encode(bytes(sk.verify_key)).decode(),
                             base64.b64encode(bytes(sk)).decode(), ring=ring)
    assert isinstance(conn, Connector)
    stats = conn.venue_stats()
    assert stats.venue == "backpack" and stats.reconcile.reconciles == 0 and conn.rest_clients() == []


def test_a_spec_with_a_core_id_registers_its_core_venue_before_use() -> None:
    from xtb import _core

    spec = replace(registry.venue_spec("backpack"), name="corereg", core_venue="corereg", core_id=231)
    assert "corereg" not in [n for n, _, _ in _core.core_venues()]
    with pytest.raises(ValueError, match="venue: unknown venue"):
        _core.EventRing(8).push(_core.Trade("corereg", 0, 1, 1, "bid", 1))
    registry.register(spec)
    try:
        assert ("corereg", 231, True) in _core.core_venues()
        ring = _core.EventRing(8)
        ring.push(_core.Trade("corereg", 0, 1, 1, "bid", 1))
        assert ring.drain()[0].venue == "corereg"
        _core.OrderBook("corereg", "X", 2, 2)  # books take the registered sequence rule
        registry.register(spec, replace=True)  # idempotent for the same name and id
    finally:
        registry.unregister("corereg")
    # a clash names the spec and the core's field, and leaves the registry as it was
    with pytest.raises(ValueError, match=r"venue 'clash': core registration refused: wire_id: 231 is already "
                                         r"registered to venue \"corereg\""):
        registry.register(replace(spec, name="clash", core_venue="clash"))
    with pytest.raises(ValueError, match=r"venue 'bp2': core registration refused: name: \"backpack\" is a built-in"):
        registry.register(replace(spec, name="bp2", core_venue="backpack", core_id=232))
    with pytest.raises(ValueError, match=r"wire_id: 7 is outside"):
        registry.register(replace(spec, name="low", core_venue="low", core_id=7))
    assert "clash" not in registry.known_venues() and "bp2" not in registry.known_venues()


def test_register_venue_refusals_name_the_argument() -> None:
    from xtb import _core

    _core.register_venue("corereg_b", 233, "binance_usdm")
    _core.register_venue("corereg_b", 233, "binance_usdm")  # the same again: nothing changes
    assert _core.OrderBook("corereg_b", "X", 2, 2).venue == "corereg_b"
    for args, field in [(("corereg_b", 234, "binance_usdm"), "name"), (("other", 233, "monotonic"), "wire_id"),
                        (("corereg_b", 233, "monotonic"), "seq_rule"), (("Bad Name", 234, "monotonic"), "name"),
                        (("ok_name", 256, "monotonic"), "wire_id"), (("ok_name", -1, "monotonic"), "wire_id"),
                        (("ok_name", 234, "fifo"), "seq_rule"), (("lighter", 234, "monotonic"), "name")]:
        with pytest.raises(ValueError, match=rf"^{field}: "):
            _core.register_venue(*args)
    assert 234 not in [i for _, i, _ in _core.core_venues()]
