"""GRVT order payloads: integer units in, the signed `create_order` JSON body out.

The signed message holds integers (size scaled by 10**base_decimals, price by 10**9, docs/venues/grvt.md),
the body holds the same values as decimal strings; both are written here from the same integers, so the
body always says exactly what was signed. The signature itself (EIP-712 digest, secp256k1) is the core's
`GrvtSigner`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import orjson

from xtb.core import GrvtSigner, format_fixed

#: the signed message's price scale (10**9)
PRICE_DECIMALS = 9
#: time in force: the JSON name and the signed code
TIME_IN_FORCE = {"GTT": ("GOOD_TILL_TIME", 1), "IOC": ("IMMEDIATE_OR_CANCEL", 3), "FOK": ("FILL_OR_KILL", 4)}
#: the longest signature lifetime the venue accepts (30 days)
MAX_EXPIRATION_S = 30 * 24 * 3600
DEFAULT_EXPIRATION_S = 300.0


@dataclass(frozen=True)
class GrvtInstrument:
    """What signing needs of an instrument: its name, `instrument_hash` (the signed asset id), base decimals."""

    name: str
    instrument_hash: str
    base_decimals: int


class OrderBuilder:
    """Builds signed create-order bodies for one sub-account."""

    def __init__(self, signer: GrvtSigner, sub_account_id: int, *, expiration_s: float = DEFAULT_EXPIRATION_S):
        if not 0 < expiration_s <= MAX_EXPIRATION_S:
            raise ValueError(f"expiration_s must be in (0, {MAX_EXPIRATION_S}] seconds (got {expiration_s})")
        self.signer = signer
        self.sub_account_id = int(sub_account_id)
        self.expiration_ns = int(expiration_s * 1e9)

    def order(
        self,
        inst: GrvtInstrument,
        client_order_id: int,
        is_buy: bool,
        size: int,
        price: int,
        *,
        time_in_force: str = "GTT",
        post_only: bool = False,
        reduce_only: bool = False,
        is_market: bool = False,
        nonce: int | None = None,
        expiration_ns: int | None = None,
    ) -> dict[str, object]:
        """The `order` object: `size` in 10**-base_decimals units, `price` in 10**-9 units (0 for market)."""
        try:
            tif_name, tif_code = TIME_IN_FORCE[time_in_force]
        except KeyError:
            known = ", ".join(TIME_IN_FORCE)
            raise ValueError(f"time_in_force must be one of {known} (got {time_in_force!r})") from None
        if nonce is None:
            nonce = self.signer.next_nonce()
        if expiration_ns is None:
            expiration_ns = time.time_ns() + self.expiration_ns
        msg = {
            "sub_account_id": self.sub_account_id,
            "time_in_force": tif_code,
            "is_market": is_market,
            "post_only": post_only,
            "reduce_only": reduce_only,
            "legs": [(inst.instrument_hash, size, price, is_buy)],
            "nonce": nonce,
            "expiration": expiration_ns,
        }
        r, s, v = self.signer.sign_order(msg)
        leg: dict[str, object] = {
            "instrument": inst.name,
            "size": format_fixed(size, inst.base_decimals),
            "is_buying_asset": is_buy,
        }
        if not is_market:
            leg["limit_price"] = format_fixed(price, PRICE_DECIMALS)
        return {
            "sub_account_id": str(self.sub_account_id),
            "is_market": is_market,
            "time_in_force": tif_name,
            "post_only": post_only,
            "reduce_only": reduce_only,
            "legs": [leg],
            "signature": {
                "signer": self.signer.address,
                "r": r,
                "s": s,
                "v": v,
                "expiration": str(expiration_ns),
                "nonce": nonce,
                "chain_id": str(self.signer.chain_id),
            },
            "metadata": {"client_order_id": str(client_order_id)},
        }

    def create_order_body(
        self,
        inst: GrvtInstrument,
        client_order_id: int,
        is_buy: bool,
        size: int,
        price: int,
        *,
        time_in_force: str = "GTT",
        post_only: bool = False,
        reduce_only: bool = False,
        is_market: bool = False,
        nonce: int | None = None,
        expiration_ns: int | None = None,
    ) -> bytes:
        """The JSON body of POST /full/v1/create_order."""
        order = self.order(
            inst, client_order_id, is_buy, size, price, time_in_force=time_in_force, post_only=post_only,
            reduce_only=reduce_only, is_market=is_market, nonce=nonce, expiration_ns=expiration_ns,
        )
        return orjson.dumps({"order": order})
