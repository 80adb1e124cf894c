"""The GRVT simulator's authentication: API-key sessions (the `gravity` cookie and `X-Grvt-Account-Id`) and
the checks every order goes through before it reaches the matching engine: shape, instrument granularity,
then the EIP-712 signature recovered in the core and compared with the API key's registered signer.

Errors are GRVT's: `{"request_id", "code", "message", "status"}` with the documented codes
(docs/venues/grvt.md, "Protocol facts used"). Nothing here does I/O: the protocol server calls it.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from xtb.core import grvt_recover_signer

#: time in force names -> the signed code; orderbook orders may use GTT, IOC or FOK (error 2030)
TIME_IN_FORCE = {"GOOD_TILL_TIME": 1, "ALL_OR_NONE": 2, "IMMEDIATE_OR_CANCEL": 3, "FILL_OR_KILL": 4}
ORDERBOOK_TIFS = {1, 3, 4}
MAX_EXPIRATION_NS = 30 * 24 * 3600 * 10**9
PRICE_DECIMALS = 9
#: how many (signer, nonce, digest-relevant payload) a sub-account remembers to drop duplicates
DEDUP_WINDOW = 4096


class GrvtError(Exception):
    """A GRVT error object; `status` is the HTTP status."""

    def __init__(self, code: int, status: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message

    def body(self, request_id: int = 1) -> dict[str, Any]:
        return {"request_id": request_id, "code": self.code, "message": self.message, "status": self.status}


def err(code: int, message: str) -> GrvtError:
    status = 401 if code in (1000, 1008) else 403 if code in (1001, 1400) or 2000 <= code <= 2007 else 400
    if code in (1006, 2090):
        status = 429
    return GrvtError(code, status, message)


@dataclass(frozen=True)
class Instrument:
    name: str
    instrument_hash: str
    base_decimals: int
    tick_1e9: int  # tick size in 10^-9 quote units
    min_size: int  # in 10^-base_decimals units
    active: bool = True


@dataclass
class ApiKey:
    api_key: str
    account_id: str  # the funding account (X-Grvt-Account-Id)
    signer: str  # checksummed address of the key's secp256k1 key
    sub_account_ids: frozenset[int]
    trade: bool = True


@dataclass
class Session:
    token: str
    key: ApiKey
    expires_ns: int


@dataclass(frozen=True)
class VerifiedOrder:
    """An order whose signature matched: integers as signed, plus the unsigned metadata."""

    sub_account_id: int
    instrument: Instrument
    is_buy: bool
    size: int  # 10^-base_decimals
    price: int  # 10^-9 (0 for market orders)
    time_in_force: int
    post_only: bool
    reduce_only: bool
    is_market: bool
    client_order_id: int
    signer: str
    nonce: int
    expiration_ns: int


@dataclass
class Auth:
    """Registered API keys, live sessions, and the order checks."""

    chain_id: int
    session_ttl_ns: int = 3600 * 10**9
    keys: dict[str, ApiKey] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    _seen: dict[int, OrderedDict[tuple[str, int, str], None]] = field(default_factory=dict)

    def register(self, key: ApiKey) -> None:
        self.keys[key.api_key] = key

    def login(self, api_key: str, now_ns: int) -> Session:
        key = self.keys.get(api_key)
        if key is None:
            raise err(1000, "You need to authenticate prior to using this functionality")
        s = Session(secrets.token_urlsafe(24), key, now_ns + self.session_ttl_ns)
        self.sessions[s.token] = s
        return s

    def expire_sessions(self) -> None:
        """Every session ends (a venue-side logout: clients must log in again)."""
        self.sessions.clear()

    def session(self, cookie: str | None, account_id: str | None, now_ns: int) -> Session:
        s = self.sessions.get(cookie or "")
        if s is None or s.expires_ns <= now_ns:
            if s is not None:
                del self.sessions[s.token]
            raise err(1000, "You need to authenticate prior to using this functionality")
        if account_id != s.key.account_id:
            raise err(1001, "You are not authorized to access this functionality")
        return s

    def verify_order(self, session: Session, order: Any, instruments: dict[str, Instrument], now_ns: int,
                     ) -> VerifiedOrder | None:
        """The order's checks in the venue's order; None when it repeats a payload + nonce already seen (the
        venue ignores duplicates). Raises GrvtError."""
        if not isinstance(order, dict):
            raise err(1003, "Request could not be processed due to malformed syntax: order must be an object")
        if order.get("order_id") not in (None, "", "0x00"):
            raise err(2010, "Order ID should be empty when creating an order")
        meta = order.get("metadata") or {}
        cid_text = meta.get("client_order_id") if isinstance(meta, dict) else None
        try:
            cid = int(str(cid_text))
        except ValueError:
            raise err(2011, "Client Order ID should be supplied when creating an order") from None
        if not 0 <= cid < 2**64:
            raise err(2011, "Client Order ID should be supplied when creating an order")
        legs = order.get("legs")
        if not isinstance(legs, list) or len(legs) != 1 or not isinstance(legs[0], dict):
            raise err(2042, "Orderbook orders must have a single leg")
        leg = legs[0]
        inst = instruments.get(str(leg.get("instrument")))
        if inst is None:
            raise err(2061, "Order instrument is unsupported")
        if not inst.active:
            raise err(2060, "Order instrument is inactive")
        tif = TIME_IN_FORCE.get(str(order.get("time_in_force")))
        if tif is None or tif not in ORDERBOOK_TIFS:
            raise err(2030, "Orderbook orders must have a TimeInForce of GTT/IOC/FOK")
        post_only = order.get("post_only") is True
        reduce_only = order.get("reduce_only") is True
        is_market = order.get("is_market") is True
        if post_only and tif != 1:
            raise err(2032, "Post Only can only be set with GTT or AON")
        size = _scaled(leg.get("size"), inst.base_decimals, "size")
        if size is None:
            raise err(2065, "Order size too granular")
        if size < inst.min_size or size <= 0:
            raise err(2062, "Order size smaller than min size")
        if size % inst.min_size:
            raise err(2065, "Order size too granular")
        price_text = leg.get("limit_price")
        no_price = price_text in (None, "") or _scaled(price_text, PRICE_DECIMALS, "limit_price") == 0
        if is_market:
            if not no_price:  # absent or zero in any spelling ("0", "0.0", "0E-9" from the SDK)
                raise err(2020, "Market Order must not have a limit price")
            price = 0
        else:
            if no_price:
                raise err(2021, "Limit Order must have a limit price")
            p = _scaled(price_text, PRICE_DECIMALS, "limit_price")
            if p is None or p <= 0 or p % inst.tick_1e9:
                raise err(2064, "Invalid limit price tick")
            price = p
        try:
            sub = int(str(order.get("sub_account_id")))
        except ValueError:
            raise err(1003, "Request could not be processed due to malformed syntax: sub_account_id") from None
        if sub not in session.key.sub_account_ids:
            raise err(2003, "Order sub account does not match logged in user")
        sig = order.get("signature")
        if not isinstance(sig, dict):
            raise err(2002, "Order signature does not match payload")
        v = sig.get("v")
        if v not in (27, 28):
            raise err(2005, "Order signature is invalid: V must be 27 or 28")
        r, s = sig.get("r"), sig.get("s")
        if not (isinstance(r, str) and isinstance(s, str) and _hex32(r) and _hex32(s)):
            raise err(2006, "Order signature is invalid: R and S must be 32 bytes of hex")
        if int(s, 16) * 2 > 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141:
            raise err(2007, "Order signature is invalid: S must be in the lower half of the curve")
        chain = sig.get("chain_id")
        if chain not in (None, "", "0", 0) and str(chain) != str(self.chain_id):
            raise err(1012, "Invalid signature chain ID")
        try:
            expiration = int(str(sig.get("expiration")))
            nonce = int(str(sig.get("nonce")))
        except (TypeError, ValueError):
            raise err(1003, "Request could not be processed due to malformed syntax: signature") from None
        if not 0 <= nonce < 2**32:
            raise err(1003, "Request could not be processed due to malformed syntax: signature.nonce")
        if expiration <= now_ns:
            raise err(2001, "Order signature has expired")
        if expiration > now_ns + MAX_EXPIRATION_NS:
            raise err(2001, "Order signature expiration exceeds the maximum (EXCEED_MAX_SIGNATURE_EXPIRATION)")
        msg = {
            "sub_account_id": sub, "time_in_force": tif, "is_market": is_market, "post_only": post_only,
            "reduce_only": reduce_only, "nonce": nonce, "expiration": expiration,
            "legs": [(inst.instrument_hash, size, price, leg.get("is_buying_asset") is True)],
        }
        try:
            recovered = grvt_recover_signer(self.chain_id, msg, r, s, v)
        except ValueError:
            raise err(2002, "Order signature does not match payload") from None
        if str(sig.get("signer", "")).lower() != recovered.lower():
            raise err(2002, "Order signature does not match payload")
        if recovered.lower() != session.key.signer.lower():
            raise err(2000, "Order signature is from an unauthorized signer")
        if not session.key.trade:
            raise err(1400, "Signer does not have trade permission")
        seen = self._seen.setdefault(sub, OrderedDict())
        dedup = (recovered.lower(), nonce, r + s)
        if dedup in seen:
            return None
        seen[dedup] = None
        if len(seen) > DEDUP_WINDOW:
            seen.popitem(last=False)
        return VerifiedOrder(sub, inst, leg.get("is_buying_asset") is True, size, price, tif, post_only, reduce_only,
                             is_market, cid, recovered, nonce, expiration)


def _hex32(x: str) -> bool:
    if not x.startswith("0x") or len(x) != 66:
        return False
    try:
        int(x, 16)
    except ValueError:
        return False
    return True


def _scaled(text: Any, decimals: int, name: str) -> int | None:
    """A decimal string at `decimals` as an exact integer; None when it has more digits (too granular)."""
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        raise err(1003, f"Request could not be processed due to malformed syntax: {name}") from None
    if not value.is_finite():
        raise err(1003, f"Request could not be processed due to malformed syntax: {name}")
    scaled = value.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        return None
    return int(scaled)
