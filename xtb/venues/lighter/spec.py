"""Lighter perps as a venue package: the VenueSpec the registry finds (xtb/venues/registry.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xtb.venues.contract import ConnectorWiring, LiveSetup, PaperSetup, VenueSpec
from xtb.venues.lighter import ratelimits
from xtb.venues.lighter.config import LighterConfig
from xtb.venues.lighter.connector import MAX_CLIENT_ORDER_INDEX, LighterConnector
from xtb.venues.lighter.keys import load_lighter_keys
from xtb.venues.symbols import base_only

NAME = "lighter"
CLIENT_ID_RANGE = (1, MAX_CLIENT_ORDER_INDEX)  # client_order_index: 48 bits
PAPER_API_KEY_INDEX = 3  # the first index a user key may take
PAPER_CHAIN_ID = 300  # the simulator speaks testnet


def connect_live(setup: LiveSetup, wiring: ConnectorWiring) -> LighterConnector:
    keys = load_lighter_keys(setup.key_file, setup.env)
    account = keys.account_index if keys.account_index is not None else int(setup.account or 0)
    options = dict(setup.options)
    if setup.endpoints.rest_url:
        options["rest_url"] = setup.endpoints.rest_url
    if setup.endpoints.ws_url:
        options["ws_url"] = setup.endpoints.ws_url
    config = LighterConfig.from_options(options, account_index=account, api_key_index=keys.api_key_index)
    return LighterConnector.from_keys(config, keys, ring=wiring.ring, tracker=wiring.tracker,
                                      on_burst_end=wiring.on_burst_end)


def connect_paper(setup: PaperSetup, wiring: ConnectorWiring) -> LighterConnector:
    from xtb.signing.lighter import LighterSigner, generate_api_key

    private, public = generate_api_key()
    account = setup.sim.open_account(NAME, public, PAPER_API_KEY_INDEX, setup.collateral)
    urls = setup.sim.urls()[NAME]
    options = {**setup.options, "rest_url": urls["rest"], "ws_url": urls["ws"]}
    options.setdefault("chain_id", PAPER_CHAIN_ID)
    config = LighterConfig.from_options(options, account_index=account, api_key_index=PAPER_API_KEY_INDEX)
    signer = LighterSigner(private, chain_id=config.chain_id, api_key_index=PAPER_API_KEY_INDEX,
                           account_index=account, backend=config.signer, nonce_pool=config.nonce_pool)
    return LighterConnector(config, signer, own_signer=True, ring=wiring.ring, tracker=wiring.tracker,
                            on_burst_end=wiring.on_burst_end)


def rate_limits(options: Mapping[str, Any]) -> dict[str, Any]:
    return ratelimits.lighter(str(options.get("tier", LighterConfig.tier)))


SPEC = VenueSpec(
    name=NAME,
    config_cls=LighterConfig,
    connect_live=connect_live,
    connect_paper=connect_paper,
    load_keys=load_lighter_keys,
    client_id_range=CLIENT_ID_RANGE,
    rate_limits=rate_limits,
    canonical=base_only,
    sim_dialect=NAME,
    summary="Lighter perpetuals (zk rollup: signed transactions, REST + WebSocket)",
)
