"""GRVT perpetuals as a venue package: the VenueSpec the registry finds (xtb/venues/registry.py).

Live: `venues.grvt.options.profile` (mainnet / testnet: hosts and the EIP-712 chain id) or every endpoint
key, the sub-account id (option, or the key file / GRVT_TRADING_ACCOUNT_ID), keys from the key file or the
environment (xtb/venues/grvt/keys.py). A section's `rest_url` / `ws_url` (a proxy, a recorder) replace all
three REST hosts / both WebSocket URLs. Paper: a funded account on the simulator's GRVT dialect.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xtb.venues.contract import ConnectorWiring, LiveSetup, PaperSetup, VenueSpec
from xtb.venues.grvt.config import GrvtConfig
from xtb.venues.grvt.connector import CLIENT_ID_MAX, GrvtConnector
from xtb.venues.grvt.keys import load_grvt_keys
from xtb.venues.grvt.ratelimits import grvt as grvt_limits
from xtb.venues.symbols import base_first

NAME = "grvt"
CLIENT_ID_RANGE = (1, CLIENT_ID_MAX)


def _with_urls(options: Mapping[str, Any], rest_url: str | None, ws_url: str | None) -> dict[str, Any]:
    out = dict(options)
    if rest_url:
        for k in ("edge_url", "trades_url", "market_data_url"):
            out.setdefault(k, rest_url)
    if ws_url:
        for k in ("trades_ws_url", "market_data_ws_url"):
            out.setdefault(k, ws_url)
    return out


def connect_live(setup: LiveSetup, wiring: ConnectorWiring) -> GrvtConnector:
    keys = load_grvt_keys(setup.key_file, setup.env)
    options = _with_urls(setup.options, setup.endpoints.rest_url, setup.endpoints.ws_url)
    if "profile" not in options and not {"edge_url", "chain_id"} <= set(options):
        options["profile"] = "mainnet"
    config = GrvtConfig.from_options(options, sub_account_id=keys.sub_account_id)
    return GrvtConnector(config, keys.api_key, keys.private_key, ring=wiring.ring, tracker=wiring.tracker,
                         on_burst_end=wiring.on_burst_end)


def connect_paper(setup: PaperSetup, wiring: ConnectorWiring) -> GrvtConnector:
    """A funded sub-account on the simulator with an API key and a signing key made for it, and the
    simulator's three hosts, two sockets and chain id."""
    account = setup.sim.add_grvt_account(setup.collateral)
    assert account.private_key is not None  # no signer given: the simulator made the key
    urls = setup.sim.urls()[NAME]
    options = dict(setup.options)
    options.pop("profile", None)
    options.update(edge_url=urls["edge"], trades_url=urls["trades"], market_data_url=urls["market_data"],
                   trades_ws_url=urls["trading_ws"], market_data_ws_url=urls["market_ws"],
                   chain_id=int(urls["chain_id"]), sub_account_id=account.sub_account_id)
    config = GrvtConfig.from_options(options)
    return GrvtConnector(config, account.api_key, account.private_key, ring=wiring.ring, tracker=wiring.tracker,
                         on_burst_end=wiring.on_burst_end)


def rate_limits(options: Mapping[str, Any]) -> dict[str, Any]:
    return grvt_limits(float(options.get("requests_per_second", GrvtConfig.requests_per_second)))


SPEC = VenueSpec(
    name=NAME,
    config_cls=GrvtConfig,
    connect_live=connect_live,
    connect_paper=connect_paper,
    load_keys=load_grvt_keys,
    client_id_range=CLIENT_ID_RANGE,
    rate_limits=rate_limits,
    canonical=base_first,
    sim_dialect=NAME,
    summary="GRVT perpetuals (JSON-RPC REST with an API-key session, two WebSockets, EIP-712-signed orders)",
)
