"""Aster connector options (`venues.aster.options`): Binance's options plus the V3 signing ones. UNCONFIRMED
venue facts are options with the documented default (docs/venues/aster.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from xtb.venues.binance_usdm.config import BinanceConfig

SECTION = "venues.aster.options"
CHAIN_IDS = {"mainnet": 1666, "testnet": 714}  # the EIP-712 domain's chainId for trading signatures
AUTH_SCHEMES = ("v3", "v1")

#: One WebSocket host in Binance's legacy layout (`/stream?streams=`, `/ws/<listenKey>`): the three stream
#: URLs are the same base. The testnet market host (`fstream` or `fstream5`) is UNCONFIRMED.
PROFILES: dict[str, dict[str, str]] = {
    "mainnet": {
        "rest_url": "https://fapi.asterdex.com",
        "ws_public_url": "wss://fstream.asterdex.com",
        "ws_market_url": "wss://fstream.asterdex.com",
        "ws_private_url": "wss://fstream.asterdex.com",
    },
    "testnet": {
        "rest_url": "https://fapi.asterdex-testnet.com",
        "ws_public_url": "wss://fstream.asterdex-testnet.com",
        "ws_market_url": "wss://fstream.asterdex-testnet.com",
        "ws_private_url": "wss://fstream.asterdex-testnet.com",
    },
}


@dataclass
class AsterConfig(BinanceConfig):
    section: ClassVar[str] = SECTION
    profiles: ClassVar[dict[str, dict[str, str]]] = PROFILES
    order_entries: ClassVar[tuple[str, ...]] = ("rest",)  # no WebSocket order entry

    auth: str = "v3"  # "v3" (API wallet, EIP-712) or "v1" (legacy HMAC key pair)
    chain_id: int = 0  # 0: the profile's (1666 mainnet, 714 testnet)
    include_user: bool = True  # send `user` on every V3 request (UNCONFIRMED whether orders need it)
    signature_0x: bool = False  # `0x` in front of the V3 signature hex (UNCONFIRMED)
    # Limits (docs/venues/aster.md section 3): no 10 s order limit is documented, so that pool is only as
    # tight as the minute's.
    orders_per_10s: int = 1200

    @classmethod
    def check(cls, merged: dict[str, Any]) -> None:
        auth = merged.get("auth", "v3")
        if auth not in AUTH_SCHEMES:
            raise ValueError(f"{SECTION}.auth: expected one of {', '.join(AUTH_SCHEMES)}, got {auth!r}")
        chain = merged.get("chain_id", 0)
        if isinstance(chain, bool) or not isinstance(chain, int) or chain < 0:
            raise ValueError(f"{SECTION}.chain_id: expected a positive int (1666 mainnet, 714 testnet), got {chain!r}")
        if not chain:
            merged["chain_id"] = CHAIN_IDS[merged.get("profile", "mainnet")]
        for flag in ("include_user", "signature_0x"):
            if not isinstance(merged.get(flag, False), bool):
                raise ValueError(f"{SECTION}.{flag}: expected true or false, got {merged[flag]!r}")
