"""Aster perpetual futures as a venue package: the VenueSpec the registry finds (xtb/venues/registry.py).

Aster's `/fapi` API is Binance USD-M's with its own paths, hosts and authentication, so the connector is
Binance's `BinanceConnector` run with Aster's dialect and signer: V3 (the default) signs with the API
wallet's key (the core's AsterSigner, EIP-712), V1 with a legacy HMAC key pair."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xtb import _core
from xtb.keys import Secret
from xtb.venues.aster import ratelimits
from xtb.venues.aster.config import AsterConfig
from xtb.venues.aster.dialect import DIALECTS, NAME
from xtb.venues.aster.keys import AsterKeys, load_aster_keys
from xtb.venues.binance_usdm.connector import CLIENT_ID_MAX, BinanceConnector
from xtb.venues.contract import ConnectorWiring, LiveSetup, PaperSetup, VenueSpec
from xtb.venues.symbols import base_then_quote

# newClientOrderId: Binance's 36 characters (the engine's ids are far smaller)
CLIENT_ID_RANGE = (1, min(CLIENT_ID_MAX, 2**63 - 1))


def _options(options: Mapping[str, Any], rest_url: str | None, ws_url: str | None) -> dict[str, Any]:
    """`ws_url` of a config section is the venue's one WebSocket host (market and user streams)."""
    out = dict(options)
    if rest_url:
        out["rest_url"] = rest_url
    if ws_url:
        base = ws_url.rstrip("/")
        for key in ("ws_public_url", "ws_market_url", "ws_private_url"):
            out.setdefault(key, base)
    return out


def connector(config: AsterConfig, keys: AsterKeys, wiring: ConnectorWiring) -> BinanceConnector:
    """The connector for `config.auth`: V3 signs with the API wallet key for `keys.user`, V1 with HMAC."""
    dialect = DIALECTS[config.auth]
    keys.require(config.auth)
    if config.auth == "v1":
        return BinanceConnector(config, keys.api_key, keys.api_secret, ring=wiring.ring, tracker=wiring.tracker,
                                on_burst_end=wiring.on_burst_end, dialect=dialect)  # fmt: skip
    assert keys.private_key is not None and keys.user is not None
    signer = _core.AsterSigner(keys.private_key.reveal(), keys.user, config.chain_id,
                               include_user=config.include_user, signature_0x=config.signature_0x)  # fmt: skip
    return BinanceConnector(config, None, None, ring=wiring.ring, tracker=wiring.tracker,
                            on_burst_end=wiring.on_burst_end, dialect=dialect, signer=signer)  # fmt: skip


def connect_live(setup: LiveSetup, wiring: ConnectorWiring) -> BinanceConnector:
    config = AsterConfig.from_options(_options(setup.options, setup.endpoints.rest_url, setup.endpoints.ws_url))
    keys = load_aster_keys(setup.key_file, setup.env)
    keys.require(config.auth, setup.key_file or "the environment")
    return connector(config, keys, wiring)


def connect_paper(setup: PaperSetup, wiring: ConnectorWiring) -> BinanceConnector:
    """A fresh simulated account: an approved API wallet (V3) or an HMAC key pair (V1)."""
    urls = setup.sim.urls()[NAME]
    config = AsterConfig.from_options(_options(setup.options, urls["rest"], urls["ws"]))
    key, secret, _ = setup.sim.open_account(NAME, setup.collateral, auth=config.auth)
    if config.auth == "v1":
        keys = AsterKeys(api_key=Secret(key), api_secret=Secret(secret))
    else:  # the simulator made the API wallet's key: (user, agent private key, account)
        keys = AsterKeys(user=key, private_key=Secret(secret))
    return connector(config, keys, wiring)


def rate_limits(options: Mapping[str, Any]) -> dict[str, Any]:
    return ratelimits.aster(
        int(options.get("weight_per_minute", AsterConfig.weight_per_minute)),
        int(options.get("orders_per_10s", AsterConfig.orders_per_10s)),
        int(options.get("orders_per_minute", AsterConfig.orders_per_minute)),
    )


SPEC = VenueSpec(
    name=NAME,
    config_cls=AsterConfig,
    connect_live=connect_live,
    connect_paper=connect_paper,
    load_keys=load_aster_keys,
    client_id_range=CLIENT_ID_RANGE,
    rate_limits=rate_limits,
    canonical=base_then_quote,
    sim_dialect=NAME,
    summary="Aster perpetual futures, USDT-margined (Binance-style REST + WebSocket; V3 EIP-712 agent or V1 HMAC)",
)
