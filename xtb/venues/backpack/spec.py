"""Backpack USDC perps as a venue package: the VenueSpec the registry finds (xtb/venues/registry.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xtb.venues.backpack import ratelimits
from xtb.venues.backpack.connector import BackpackConfig, BackpackConnector
from xtb.venues.backpack.keys import load_backpack_keys
from xtb.venues.contract import ConnectorWiring, LiveSetup, PaperSetup, VenueSpec
from xtb.venues.symbols import base_first

NAME = "backpack"
CLIENT_ID_RANGE = (1, 2**32 - 1)  # clientId is a uint32


def _options(options: Mapping[str, Any], rest_url: str | None, ws_url: str | None) -> dict[str, Any]:
    out = dict(options)
    if rest_url:
        out["rest_url"] = rest_url
    if ws_url:
        out["ws_url"] = ws_url
    return out


def connect_live(setup: LiveSetup, wiring: ConnectorWiring) -> BackpackConnector:
    config = BackpackConfig.from_options(_options(setup.options, setup.endpoints.rest_url, setup.endpoints.ws_url))
    keys = load_backpack_keys(setup.key_file, setup.env)
    return BackpackConnector(config, keys.api_key, keys.api_secret, ring=wiring.ring, tracker=wiring.tracker,
                             on_burst_end=wiring.on_burst_end)


def connect_paper(setup: PaperSetup, wiring: ConnectorWiring) -> BackpackConnector:
    api_key, secret, _ = setup.sim.open_account(NAME, setup.collateral)
    assert secret is not None  # a fresh key pair: the simulator made the secret
    urls = setup.sim.urls()[NAME]
    config = BackpackConfig.from_options(_options(setup.options, urls["rest"], urls["ws"]))
    return BackpackConnector(config, api_key, secret, ring=wiring.ring, tracker=wiring.tracker,
                             on_burst_end=wiring.on_burst_end)


def rate_limits(options: Mapping[str, Any]) -> dict[str, Any]:
    return ratelimits.backpack(int(options.get("requests_per_second", BackpackConfig.requests_per_second)))


SPEC = VenueSpec(
    name=NAME,
    config_cls=BackpackConfig,
    connect_live=connect_live,
    connect_paper=connect_paper,
    load_keys=load_backpack_keys,
    client_id_range=CLIENT_ID_RANGE,
    rate_limits=rate_limits,
    canonical=base_first,
    sim_dialect=NAME,
    summary="Backpack Exchange USDC perpetuals (REST + one WebSocket, ED25519-signed)",
)
