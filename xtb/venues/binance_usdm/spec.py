"""Binance USD-M futures as a venue package: the VenueSpec the registry finds (xtb/venues/registry.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xtb.venues.binance_usdm import ratelimits
from xtb.venues.binance_usdm.config import BinanceConfig
from xtb.venues.binance_usdm.connector import CLIENT_ID_MAX, BinanceConnector
from xtb.venues.binance_usdm.keys import load_binance_keys
from xtb.venues.contract import ConnectorWiring, LiveSetup, PaperSetup, VenueSpec
from xtb.venues.symbols import base_then_quote

NAME = "binance_usdm"
# newClientOrderId allows 36 characters; the engine's ids are far smaller, any positive int64 fits.
CLIENT_ID_RANGE = (1, min(CLIENT_ID_MAX, 2**63 - 1))


def _options(options: Mapping[str, Any], rest_url: str | None, ws_url: str | None) -> dict[str, Any]:
    """`ws_url` of a config section is the venue's WebSocket base: `<base>/public`, `/market`, `/private`."""
    out = dict(options)
    if rest_url:
        out["rest_url"] = rest_url
    if ws_url:
        base = ws_url.rstrip("/").removesuffix("/public")
        out.setdefault("ws_public_url", f"{base}/public")
        out.setdefault("ws_market_url", f"{base}/market")
        out.setdefault("ws_private_url", f"{base}/private")
        out.setdefault("ws_api_url", f"{base}/ws-fapi/v1")
    return out


def connect_live(setup: LiveSetup, wiring: ConnectorWiring) -> BinanceConnector:
    config = BinanceConfig.from_options(_options(setup.options, setup.endpoints.rest_url, setup.endpoints.ws_url))
    keys = load_binance_keys(setup.key_file, setup.env)
    return BinanceConnector(config, keys.api_key, keys.api_secret, ring=wiring.ring, tracker=wiring.tracker,
                            on_burst_end=wiring.on_burst_end)


def connect_paper(setup: PaperSetup, wiring: ConnectorWiring) -> BinanceConnector:
    api_key, secret, _ = setup.sim.open_account(NAME, setup.collateral)
    urls = setup.sim.urls()[NAME]
    config = BinanceConfig.from_options(_options(setup.options, urls["rest"], urls["ws"]))
    return BinanceConnector(config, api_key, secret, ring=wiring.ring, tracker=wiring.tracker,
                            on_burst_end=wiring.on_burst_end)


def rate_limits(options: Mapping[str, Any]) -> dict[str, Any]:
    return ratelimits.binance_usdm(
        int(options.get("weight_per_minute", BinanceConfig.weight_per_minute)),
        int(options.get("orders_per_10s", BinanceConfig.orders_per_10s)),
        int(options.get("orders_per_minute", BinanceConfig.orders_per_minute)),
    )


SPEC = VenueSpec(
    name=NAME,
    config_cls=BinanceConfig,
    connect_live=connect_live,
    connect_paper=connect_paper,
    load_keys=load_binance_keys,
    client_id_range=CLIENT_ID_RANGE,
    rate_limits=rate_limits,
    canonical=base_then_quote,
    sim_dialect=NAME,
    summary="Binance USD-M futures, USDC- and USDT-margined perpetuals (REST + WebSocket, HMAC-signed)",
)
