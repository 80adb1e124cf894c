"""The toy venue's `VenueSpec` and its registration: the only thing that tells xtb about it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from tests.venues.toy_venue import sim
from tests.venues.toy_venue.connector import CORE_ID, NAME, ToyConfig, ToyConnector, rate_limits
from xtb.keys import KeyField, Secret, read_key_fields
from xtb.sim.dialects import register_dialect, unregister_dialect
from xtb.venues.contract import ConnectorWiring, LiveSetup, PaperSetup, VenueSpec
from xtb.venues.registry import register as register_venue
from xtb.venues.registry import unregister as unregister_venue
from xtb.venues.symbols import base_then_quote

CLIENT_ID_RANGE = (1, 2**53 - 1)  # the toy's JSON ids stay exact in a double


@dataclass(frozen=True)
class ToyKeys:
    api_key: Secret


def load_keys(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> ToyKeys:
    values, _ = read_key_fields("toy", {"key": KeyField("api key", ("api key",), ("TOY_API_KEY",))}, path, env,
                                "TOY_API_KEY")
    assert values["key"]  # required
    return ToyKeys(Secret(values["key"]))


def connect_live(setup: LiveSetup, wiring: ConnectorWiring) -> ToyConnector:
    config = ToyConfig.from_options({**setup.options, "rest_url": setup.endpoints.rest_url or ""})
    keys = load_keys(setup.key_file, setup.env)
    return ToyConnector(config, keys.api_key.reveal(), ring=wiring.ring, tracker=wiring.tracker,
                        on_burst_end=wiring.on_burst_end)


def connect_paper(setup: PaperSetup, wiring: ConnectorWiring) -> ToyConnector:
    api_key, _account = setup.sim.open_account(NAME, setup.collateral)
    config = ToyConfig.from_options({**setup.options, "rest_url": setup.sim.urls()[NAME]["rest"]})
    return ToyConnector(config, api_key, ring=wiring.ring, tracker=wiring.tracker, on_burst_end=wiring.on_burst_end)


SPEC = VenueSpec(
    name=NAME,
    config_cls=ToyConfig,
    connect_live=connect_live,
    connect_paper=connect_paper,
    load_keys=load_keys,
    client_id_range=CLIENT_ID_RANGE,
    rate_limits=rate_limits,
    canonical=base_then_quote,
    sim_dialect=NAME,
    core_id=CORE_ID,  # no built-in core entry: registered with the core by `register()`
    summary="a toy venue built from the public contract (tests)",
)


def register() -> None:
    """The whole registration: the venue (its core entry included) and its simulator dialect."""
    register_venue(SPEC, replace=True)
    register_dialect(sim.DIALECT, replace=True)


def unregister() -> None:
    """Take the toy out of the registry and the simulator (the core keeps its entry: ids are write-once)."""
    unregister_venue(NAME)
    unregister_dialect(NAME)
