"""Lighter transaction signer: native in the core (default) or the Go library from the lighter-sdk wheel.

``backend="native"`` (the default) signs with ``xtb._core.LighterKey``: Poseidon2 + Schnorr over ECgFp5
written in Rust, cross-checked against the Go library in the test suite. A signature takes tens of
microseconds, so the async API signs inline on the caller's thread (the GIL is released during the
computation) and needs neither the wheel nor a thread; it works on every OS the core builds on.

``backend="go"`` keeps the previous path, kept as a fallback. Its calls never run on the event loop's
thread (Go c-shared libraries are much slower when entered
from the main thread, and the loop would stall for the whole signature). Two paths:

- ``await signer.create_order(...)`` and ``await signer.cancel_order(...)`` go to a Rust thread in
  ``xtb._core`` that never takes the GIL; its results wake the loop through an fd watched with
  ``add_reader`` (``xtb.signing.lighter_native``). Used when the installed header declares those calls
  exactly as the Rust side was compiled for, else logged once and skipped.
- everything else (and the two above when the native path is off) runs on one dedicated Python thread
  owned by the signer (a single-worker executor); the ``*_sync`` methods block the caller while that
  thread does the work.

Nonces are always explicit: with nonce -1 the library would fetch one over HTTP itself, which is refused
here. Nonce allocation and send ordering live in ``xtb.signing.nonces``.

The private key is used once, to register the key with the library (``CreateClient``), and is not kept
on the signer; it never appears in a repr, a log line or an exception message.
"""

from __future__ import annotations

import asyncio
import ctypes
import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, TypeVar

from xtb import _core
from xtb.signing.lighter_lib import LighterLibrary, load_library
from xtb.signing.lighter_native import NativeSigningPath

T = TypeVar("T")

TX_TYPE_CREATE_ORDER = 14
TX_TYPE_CANCEL_ORDER = 15
TX_TYPE_CANCEL_ALL_ORDERS = 16
TX_TYPE_MODIFY_ORDER = 17
TX_TYPE_CREATE_GROUPED_ORDERS = 28

DEFAULT_ORDER_EXPIRY = -1
"""Order expiry sentinel: the library stamps now + 28 days."""
NIL_MARKET_INDEX = 255
DEFAULT_MAX_BATCH_SIZE = 50
"""sendTxBatch cap from the API docs (error 21514). Some clients use 15; the effective cap is UNCONFIRMED."""
MAX_AUTH_TOKEN_TTL_S = 8 * 3600
"""Documented maximum auth-token lifetime."""

# The library's CreateClient needs a URL; it is only used by CheckClient and by nonce=-1, which we never
# call. A closed loopback port makes any unexpected request fail fast instead of reaching a venue.
_UNREACHABLE_URL = "http://127.0.0.1:9"

DEFAULT_NONCE_POOL = 256
"""Native backend: nonce commitments a background thread keeps ready (each saves ~25 us of a signature;
256 as the Backpack connector's nonce pool)."""
BACKENDS = ("native", "go")
"""``native``: the core's own signer; ``go``: the lighter-sdk wheel's Go library."""

_MAX_48 = (1 << 48) - 1
_MAX_U32 = (1 << 32) - 1
_MAX_I31 = (1 << 31) - 1
_MAX_I63 = (1 << 63) - 1


class OrderType(IntEnum):
    LIMIT = 0
    MARKET = 1
    STOP_LOSS = 2
    STOP_LOSS_LIMIT = 3
    TAKE_PROFIT = 4
    TAKE_PROFIT_LIMIT = 5
    TWAP = 6


class TimeInForce(IntEnum):
    IMMEDIATE_OR_CANCEL = 0
    GOOD_TILL_TIME = 1
    POST_ONLY = 2


class CancelAllTimeInForce(IntEnum):
    IMMEDIATE = 0
    SCHEDULED = 1
    ABORT = 2


class GroupingType(IntEnum):
    ONE_TRIGGERS_THE_OTHER = 1
    ONE_CANCELS_THE_OTHER = 2
    ONE_TRIGGERS_A_ONE_CANCELS_THE_OTHER = 3


class SelfTradeBehavior(IntEnum):
    EXPIRE_MAKER = 0
    EXPIRE_TAKER = 1
    EXPIRE_BOTH = 2
    REDUCE = 3


class SelfTradeEquality(IntEnum):
    ACCOUNT_INDEX = 0
    MASTER_ACCOUNT_INDEX = 1


class LighterSignerError(Exception):
    """The library refused to sign (its own message is kept), or the signer is unusable."""

    def __init__(self, operation: str, message: str) -> None:
        super().__init__(f"{operation}: {message}")
        self.operation = operation
        self.library_message = message


# --- requests and results -------------------------------------------------------------------------------


def _check_int(name: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not lo <= value <= hi:
        raise ValueError(f"{name}={value} is outside {lo}..{hi}")
    return int(value)


def _check_flag(name: str, value: Any) -> int:
    if not isinstance(value, (bool, int)) or value not in (0, 1):
        raise ValueError(f"{name} must be a bool or 0/1, got {value!r}")
    return int(value)


def _as_c_int_bits(value: int) -> int:
    """A uint32 carried in a C ``int`` parameter (the header declares Price as int): same 32 bits."""
    return value - (1 << 32) if value > _MAX_I31 else value


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A CreateOrder in venue integer units (``base_amount`` = size x 10^size_decimals; ``price`` alike)."""

    market_index: int
    client_order_index: int
    base_amount: int
    price: int
    is_ask: bool
    order_type: OrderType = OrderType.LIMIT
    time_in_force: TimeInForce = TimeInForce.GOOD_TILL_TIME
    reduce_only: bool = False
    trigger_price: int = 0
    order_expiry: int = DEFAULT_ORDER_EXPIRY
    self_trade_behavior: SelfTradeBehavior = SelfTradeBehavior.EXPIRE_MAKER
    self_trade_equality: SelfTradeEquality = SelfTradeEquality.ACCOUNT_INDEX
    integrator_account_index: int = 0
    integrator_taker_fee: int = 0
    integrator_maker_fee: int = 0

    def __post_init__(self) -> None:
        _check_int("market_index", self.market_index, 0, 4094)
        _check_int("client_order_index", self.client_order_index, 0, _MAX_48)
        _check_int("base_amount", self.base_amount, 0, _MAX_48)
        _check_int("price", self.price, 0, _MAX_U32)
        _check_flag("is_ask", self.is_ask)
        _check_int("order_type", int(self.order_type), 0, 6)
        _check_int("time_in_force", int(self.time_in_force), 0, 2)
        _check_flag("reduce_only", self.reduce_only)
        _check_int("trigger_price", self.trigger_price, 0, _MAX_U32)
        _check_int("order_expiry", self.order_expiry, -1, _MAX_48)
        _check_int("self_trade_behavior", int(self.self_trade_behavior), 0, 3)
        _check_int("self_trade_equality", int(self.self_trade_equality), 0, 1)
        _check_int("integrator_account_index", self.integrator_account_index, 0, _MAX_48)
        _check_int("integrator_taker_fee", self.integrator_taker_fee, 0, _MAX_I31)
        _check_int("integrator_maker_fee", self.integrator_maker_fee, 0, _MAX_I31)

    @classmethod
    def limit(
        cls,
        market_index: int,
        client_order_index: int,
        base_amount: int,
        price: int,
        is_ask: bool,
        *,
        expiry_ms: int = DEFAULT_ORDER_EXPIRY,
        post_only: bool = False,
        reduce_only: bool = False,
    ) -> OrderRequest:
        """Resting limit order: good-till-time (or post-only) with an absolute expiry in ms (-1 = 28 days)."""
        tif = TimeInForce.POST_ONLY if post_only else TimeInForce.GOOD_TILL_TIME
        return cls(market_index, client_order_index, base_amount, price, is_ask, OrderType.LIMIT, tif,
                   reduce_only, 0, expiry_ms)

    @classmethod
    def ioc(
        cls, market_index: int, client_order_index: int, base_amount: int, price: int, is_ask: bool,
        *, reduce_only: bool = False,
    ) -> OrderRequest:
        """Immediate-or-cancel limit order (the venue requires expiry 0)."""
        return cls(market_index, client_order_index, base_amount, price, is_ask, OrderType.LIMIT,
                   TimeInForce.IMMEDIATE_OR_CANCEL, reduce_only, 0, 0)

    @classmethod
    def market(
        cls, market_index: int, client_order_index: int, base_amount: int, worst_price: int, is_ask: bool,
        *, reduce_only: bool = False,
    ) -> OrderRequest:
        """Market order: IOC, expiry 0, ``Price`` is the worst acceptable price (slippage bound)."""
        return cls(market_index, client_order_index, base_amount, worst_price, is_ask, OrderType.MARKET,
                   TimeInForce.IMMEDIATE_OR_CANCEL, reduce_only, 0, 0)


@dataclass(frozen=True, slots=True)
class CancelRequest:
    """Cancel by client order index or exchange order index."""

    market_index: int
    order_index: int

    def __post_init__(self) -> None:
        _check_int("market_index", self.market_index, 0, 4094)
        _check_int("order_index", self.order_index, 1, (1 << 60) - 1)


@dataclass(frozen=True, slots=True)
class CancelAllRequest:
    """Cancel all (immediate), schedule a dead-man switch at ``time_ms``, or abort the schedule.

    ``market_index=None`` covers every market.
    """

    time_in_force: CancelAllTimeInForce = CancelAllTimeInForce.IMMEDIATE
    time_ms: int = 0
    market_index: int | None = None

    def __post_init__(self) -> None:
        _check_int("time_in_force", int(self.time_in_force), 0, 2)
        _check_int("time_ms", self.time_ms, 0, _MAX_48)
        if self.market_index is not None:
            _check_int("market_index", self.market_index, 0, 4094)


@dataclass(frozen=True, slots=True)
class ModifyRequest:
    market_index: int
    order_index: int
    base_amount: int
    price: int
    trigger_price: int = 0
    order_version: int = 0
    self_trade_behavior: SelfTradeBehavior = SelfTradeBehavior.EXPIRE_MAKER
    self_trade_equality: SelfTradeEquality = SelfTradeEquality.ACCOUNT_INDEX
    integrator_account_index: int = 0
    integrator_taker_fee: int = 0
    integrator_maker_fee: int = 0

    def __post_init__(self) -> None:
        _check_int("market_index", self.market_index, 0, 4094)
        _check_int("order_index", self.order_index, 1, (1 << 60) - 1)
        _check_int("base_amount", self.base_amount, 0, _MAX_48)
        _check_int("price", self.price, 0, _MAX_U32)
        _check_int("trigger_price", self.trigger_price, 0, _MAX_U32)
        _check_int("order_version", self.order_version, 0, _MAX_I63)
        _check_int("self_trade_behavior", int(self.self_trade_behavior), 0, 3)
        _check_int("self_trade_equality", int(self.self_trade_equality), 0, 1)
        _check_int("integrator_account_index", self.integrator_account_index, 0, _MAX_48)
        _check_int("integrator_taker_fee", self.integrator_taker_fee, 0, _MAX_I31)
        _check_int("integrator_maker_fee", self.integrator_maker_fee, 0, _MAX_I31)


@dataclass(frozen=True, slots=True)
class GroupedOrdersRequest:
    """OTO / OCO / OTOCO group (at most 3 orders). Self-trade and integrator settings apply to the group."""

    grouping_type: GroupingType
    orders: tuple[OrderRequest, ...]
    self_trade_behavior: SelfTradeBehavior = SelfTradeBehavior.EXPIRE_MAKER
    self_trade_equality: SelfTradeEquality = SelfTradeEquality.ACCOUNT_INDEX
    integrator_account_index: int = 0
    integrator_taker_fee: int = 0
    integrator_maker_fee: int = 0

    def __post_init__(self) -> None:
        _check_int("grouping_type", int(self.grouping_type), 1, 3)
        if not 1 <= len(self.orders) <= 3 or not all(isinstance(o, OrderRequest) for o in self.orders):
            raise ValueError("orders must hold 1..3 OrderRequest items")
        _check_int("integrator_account_index", self.integrator_account_index, 0, _MAX_48)
        _check_int("integrator_taker_fee", self.integrator_taker_fee, 0, _MAX_I31)
        _check_int("integrator_maker_fee", self.integrator_maker_fee, 0, _MAX_I31)


TxRequest = OrderRequest | CancelRequest | CancelAllRequest | ModifyRequest | GroupedOrdersRequest


@dataclass(frozen=True, slots=True)
class SignedTx:
    """What goes to sendTx: ``tx_type`` and the ``tx_info`` JSON text; ``tx_hash`` is the venue's tx id."""

    tx_type: int
    tx_info: str
    tx_hash: str | None
    nonce: int


@dataclass(frozen=True, slots=True)
class AuthToken:
    """Bearer token for private streams and REST (``Authorization`` header / WS ``auth``)."""

    token: str = field(repr=False)
    deadline_s: int
    account_index: int
    api_key_index: int


def send_tx_batch_fields(txs: Sequence[SignedTx]) -> dict[str, str]:
    """Form fields for ``POST /api/v1/sendTxBatch`` (and the WS ``jsonapi/sendtxbatch`` data)."""
    return {
        "tx_types": json.dumps([tx.tx_type for tx in txs]),
        "tx_infos": json.dumps([tx.tx_info for tx in txs]),
    }


# --- the signer -----------------------------------------------------------------------------------------

_KEY_RE = re.compile(r"^(?:0x)?([0-9a-fA-F]{80})$")

# (account_index, api_key_index) -> (key fingerprint, live signers). The library keeps ONE client per
# pair process-wide, so two signers with different keys for one pair would silently sign with the last.
_pair_owners: dict[tuple[int, int], tuple[bytes, int]] = {}
_pair_lock = threading.Lock()
_FINGERPRINT_SALT = secrets.token_bytes(16)

_SIGN_CREATE_ORDER = (
    "cMarketIndex", "cClientOrderIndex", "cBaseAmount", "cPrice", "cIsAsk", "cOrderType", "cTimeInForce",
    "cReduceOnly", "cTriggerPrice", "cOrderExpiry", "cIntegratorAccountIndex", "cIntegratorTakerFee",
    "cIntegratorMakerFee", "cSelfTradeBehaviorMode", "cSelfTradeEqualityMode", "cSkipNonce", "cNonce",
    "cApiKeyIndex", "cAccountIndex",
)
_SIGN_GROUPED = (
    "cGroupingType", "cOrders", "cLen", "cIntegratorAccountIndex", "cIntegratorTakerFee",
    "cIntegratorMakerFee", "cSelfTradeBehaviorMode", "cSelfTradeEqualityMode", "cSkipNonce", "cNonce",
    "cApiKeyIndex", "cAccountIndex",
)
_SIGN_CANCEL = ("cMarketIndex", "cOrderIndex", "cSkipNonce", "cNonce", "cApiKeyIndex", "cAccountIndex")
_SIGN_CANCEL_ALL = (
    "cTimeInForce", "cTime", "cCancelAllMarketIndex", "cSkipNonce", "cNonce", "cApiKeyIndex", "cAccountIndex",
)
_SIGN_MODIFY = (
    "cMarketIndex", "cIndex", "cBaseAmount", "cPrice", "cTriggerPrice", "cIntegratorAccountIndex",
    "cIntegratorTakerFee", "cIntegratorMakerFee", "cSelfTradeBehaviorMode", "cSelfTradeEqualityMode",
    "cSkipNonce", "cNonce", "cOrderVersion", "cApiKeyIndex", "cAccountIndex",
)
_ORDER_STRUCT_FIELDS = (
    "MarketIndex", "ClientOrderIndex", "BaseAmount", "Price", "IsAsk", "Type", "TimeInForce", "ReduceOnly",
    "TriggerPrice", "OrderExpiry",
)


class LighterSigner:
    """Signs Lighter L2 transactions for one (account_index, api_key_index) on a dedicated thread."""

    def __init__(
        self,
        private_key_hex: str,
        *,
        chain_id: int,
        api_key_index: int,
        account_index: int,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        library: LighterLibrary | None = None,
        native: bool = True,
        backend: str = "native",
        nonce_pool: int = DEFAULT_NONCE_POOL,
    ) -> None:
        """``backend``: ``native`` (the core's signer) or ``go`` (the wheel's library). With ``go``,
        ``native=False`` keeps ``create_order``/``cancel_order`` on the Python signer thread.
        ``nonce_pool`` (native): nonce commitments kept precomputed on a background thread (0: none)."""
        if not isinstance(private_key_hex, str) or (match := _KEY_RE.match(private_key_hex)) is None:
            raise ValueError("private_key_hex must be 80 hex digits (40 bytes), optionally 0x-prefixed")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        self.backend = backend
        self.chain_id = _check_int("chain_id", chain_id, 1, _MAX_I31)
        self.api_key_index = _check_int("api_key_index", api_key_index, 0, 254)
        self.account_index = _check_int("account_index", account_index, 1, _MAX_48)
        self.max_batch_size = _check_int("max_batch_size", max_batch_size, 1, 10_000)
        self._closed = False
        self._native: NativeSigningPath[SignedTx] | None = None
        self._key: Any = None
        if backend == "native":
            _check_int("nonce_pool", nonce_pool, 0, 65_536)
            self._key = _core.LighterKey(match.group(1), chain_id=self.chain_id,
                                         account_index=self.account_index, api_key_index=self.api_key_index,
                                         nonce_pool=nonce_pool)
            self.thread_ident: int | None = None
            return
        self._lib = library if library is not None else load_library()
        self._bind()
        key_hex = match.group(1).lower()
        self._pair = (self.account_index, self.api_key_index)
        self._claim_pair(hashlib.blake2b(key_hex.encode(), key=_FINGERPRINT_SALT, digest_size=16).digest())
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"xtb-lighter-signer-{self.account_index}-{self.api_key_index}"
        )
        try:
            self.thread_ident = self._executor.submit(threading.get_ident).result()
            # The Go library keeps the client process-wide: create it first, on the signer thread as always.
            self._executor.submit(self._create_client, key_hex).result()
            if native:
                self._native = NativeSigningPath.open(
                    self._lib, self._complete,
                    thread_name=f"xtb-lighter-native-{self.account_index}-{self.api_key_index}")
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return (f"LighterSigner(account_index={self.account_index}, api_key_index={self.api_key_index}, "
                f"chain_id={self.chain_id}, backend={self.backend}, closed={self._closed})")

    def nonce_pool_stats(self) -> dict[str, int] | None:
        """The native nonce pool's counters (capacity, available, made, used, misses); None without one."""
        return None if self._key is None else self._key.nonce_pool_stats()

    @property
    def public_key_hex(self) -> str | None:
        """The key's public half (``0x`` + 80 hex digits) with the native backend; None with ``go``."""
        return None if self._key is None else "0x" + self._key.public_key_hex

    # -- lifecycle

    def close(self) -> None:
        """Stop the signer thread. The library itself keeps its client until the process exits."""
        if self._closed:
            return
        self._closed = True
        if self._key is not None:
            self._key = None  # the core wipes the key when the object goes
            return
        if self._native is not None:
            self._native.close()
        executor = getattr(self, "_executor", None)
        if executor is not None:
            executor.shutdown(wait=True)
        with _pair_lock:
            owner = _pair_owners.get(self._pair)
            if owner is not None:
                if owner[1] <= 1:
                    del _pair_owners[self._pair]
                else:
                    _pair_owners[self._pair] = (owner[0], owner[1] - 1)

    def __enter__(self) -> LighterSigner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def native_path(self) -> bool:
        """Whether ``create_order``/``cancel_order`` use the GIL-free Rust thread."""
        return self._native is not None and not self._closed

    # -- async API (native thread or signer thread; the loop only awaits)

    async def create_order(self, order: OrderRequest, *, nonce: int) -> SignedTx:
        if self._key is not None:
            return self._sign_native(order, nonce)
        native = self._native
        if native is not None and not self._closed and isinstance(order, OrderRequest):
            _check_int("nonce", nonce, 0, _MAX_I63)
            future = native.submit(
                "SignCreateOrder", nonce, native.native.submit_create_order,
                market_index=order.market_index, client_order_index=order.client_order_index,
                base_amount=order.base_amount, price=_as_c_int_bits(order.price), is_ask=int(order.is_ask),
                order_type=int(order.order_type), time_in_force=int(order.time_in_force),
                reduce_only=int(order.reduce_only), trigger_price=_as_c_int_bits(order.trigger_price),
                order_expiry=order.order_expiry, integrator_account_index=order.integrator_account_index,
                integrator_taker_fee=order.integrator_taker_fee,
                integrator_maker_fee=order.integrator_maker_fee,
                self_trade_behavior=int(order.self_trade_behavior),
                self_trade_equality=int(order.self_trade_equality),
                nonce=nonce, api_key_index=self.api_key_index, account_index=self.account_index,
            )
            if future is not None:
                return await future
        return await self._run_async(self._sign_one, order, nonce)

    async def cancel_order(self, cancel: CancelRequest, *, nonce: int) -> SignedTx:
        if self._key is not None:
            return self._sign_native(cancel, nonce)
        native = self._native
        if native is not None and not self._closed and isinstance(cancel, CancelRequest):
            _check_int("nonce", nonce, 0, _MAX_I63)
            future = native.submit(
                "SignCancelOrder", nonce, native.native.submit_cancel_order,
                market_index=cancel.market_index, order_index=cancel.order_index, nonce=nonce,
                api_key_index=self.api_key_index, account_index=self.account_index,
            )
            if future is not None:
                return await future
        return await self._run_async(self._sign_one, cancel, nonce)

    async def cancel_all_orders(self, cancel_all: CancelAllRequest, *, nonce: int) -> SignedTx:
        return await self._run_async(self._sign_one, cancel_all, nonce)

    async def modify_order(self, modify: ModifyRequest, *, nonce: int) -> SignedTx:
        return await self._run_async(self._sign_one, modify, nonce)

    async def create_grouped_orders(self, group: GroupedOrdersRequest, *, nonce: int) -> SignedTx:
        return await self._run_async(self._sign_one, group, nonce)

    async def sign(self, request: TxRequest, *, nonce: int) -> SignedTx:
        """Sign any supported request type."""
        if isinstance(request, OrderRequest):
            return await self.create_order(request, nonce=nonce)
        if isinstance(request, CancelRequest):
            return await self.cancel_order(request, nonce=nonce)
        return await self._run_async(self._sign_one, request, nonce)

    async def sign_batch(self, requests: Sequence[TxRequest], *, first_nonce: int) -> list[SignedTx]:
        """Sign a sendTxBatch payload: nonces first_nonce, first_nonce+1, ... in list order; one hop."""
        return await self._run_async(self._sign_many, tuple(requests), first_nonce)

    async def create_orders(self, orders: Sequence[OrderRequest], *, first_nonce: int) -> list[SignedTx]:
        return await self.sign_batch(orders, first_nonce=first_nonce)

    async def create_auth_token(self, deadline_s: int | None = None, *, ttl_s: int = 600) -> AuthToken:
        """Auth token valid until ``deadline_s`` (unix seconds), default now + ``ttl_s``."""
        deadline = self._auth_deadline(deadline_s, ttl_s)
        if self._key is not None:
            return self._auth_token_native(deadline)
        return await self._run_async(self._auth_token, deadline)

    # -- sync API (blocks the caller; the work still runs on the signer thread)

    def create_order_sync(self, order: OrderRequest, *, nonce: int) -> SignedTx:
        return self._run_sync(self._sign_one, order, nonce)

    def cancel_order_sync(self, cancel: CancelRequest, *, nonce: int) -> SignedTx:
        return self._run_sync(self._sign_one, cancel, nonce)

    def cancel_all_orders_sync(self, cancel_all: CancelAllRequest, *, nonce: int) -> SignedTx:
        return self._run_sync(self._sign_one, cancel_all, nonce)

    def modify_order_sync(self, modify: ModifyRequest, *, nonce: int) -> SignedTx:
        return self._run_sync(self._sign_one, modify, nonce)

    def create_grouped_orders_sync(self, group: GroupedOrdersRequest, *, nonce: int) -> SignedTx:
        return self._run_sync(self._sign_one, group, nonce)

    def sign_sync(self, request: TxRequest, *, nonce: int) -> SignedTx:
        return self._run_sync(self._sign_one, request, nonce)

    def sign_batch_sync(self, requests: Sequence[TxRequest], *, first_nonce: int) -> list[SignedTx]:
        return self._run_sync(self._sign_many, tuple(requests), first_nonce)

    def create_auth_token_sync(self, deadline_s: int | None = None, *, ttl_s: int = 600) -> AuthToken:
        deadline = self._auth_deadline(deadline_s, ttl_s)
        if self._key is not None:
            return self._auth_token_native(deadline)
        return self._run_sync(self._auth_token, deadline)

    # -- plumbing

    def _run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise LighterSignerError(getattr(fn, "__name__", "sign"), "signer is closed")
        if self._key is not None:  # native: no thread, the core signs inline
            return fn(*args)
        if threading.get_ident() == self.thread_ident:
            return fn(*args)
        return self._executor.submit(fn, *args).result()

    async def _run_async(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise LighterSignerError(getattr(fn, "__name__", "sign"), "signer is closed")
        if self._key is not None:
            return fn(*args)
        return await asyncio.wrap_future(self._executor.submit(fn, *args))

    def _claim_pair(self, fingerprint: bytes) -> None:
        with _pair_lock:
            owner = _pair_owners.get(self._pair)
            if owner is not None and owner[0] != fingerprint:
                raise ValueError(
                    f"another LighterSigner in this process holds a different key for account_index="
                    f"{self.account_index} api_key_index={self.api_key_index} (one per pair)"
                )
            _pair_owners[self._pair] = (fingerprint, (owner[1] if owner else 0) + 1)

    def _bind(self) -> None:
        lib = self._lib
        self._create_client_fn = lib.function(
            "CreateClient", ("cUrl", "cPrivateKey", "cChainId", "cApiKeyIndex", "cAccountIndex"))
        self._sign_create_order = lib.function("SignCreateOrder", _SIGN_CREATE_ORDER)
        self._sign_cancel = lib.function("SignCancelOrder", _SIGN_CANCEL)
        self._sign_cancel_all = lib.function("SignCancelAllOrders", _SIGN_CANCEL_ALL)
        self._sign_modify = lib.function("SignModifyOrder", _SIGN_MODIFY)
        self._auth_fn = lib.function("CreateAuthToken", ("cDeadline", "cApiKeyIndex", "cAccountIndex"))
        # Grouped orders are bound lazily: older builds may not export them.
        self._order_struct: type[ctypes.Structure] | None = None

    def _create_client(self, key_hex: str) -> None:
        err = self._lib.take_string(self._create_client_fn(
            cUrl=_UNREACHABLE_URL.encode(), cPrivateKey=key_hex.encode(), cChainId=self.chain_id,
            cApiKeyIndex=self.api_key_index, cAccountIndex=self.account_index,
        ))
        if err is not None:
            raise LighterSignerError("CreateClient", _redact(err, key_hex))

    def _auth_deadline(self, deadline_s: int | None, ttl_s: int) -> int:
        now = int(time.time())
        if deadline_s is None:
            _check_int("ttl_s", ttl_s, 1, MAX_AUTH_TOKEN_TTL_S)
            return now + ttl_s
        return _check_int("deadline_s", deadline_s, now + 1, now + MAX_AUTH_TOKEN_TTL_S)

    def _auth_token(self, deadline_s: int) -> AuthToken:
        result = self._auth_fn(cDeadline=deadline_s, cApiKeyIndex=self.api_key_index,
                               cAccountIndex=self.account_index)
        token = self._lib.take_string(result.str)
        err = self._lib.take_string(result.err)
        if err is not None or not token:
            raise LighterSignerError("CreateAuthToken", err or "library returned no token")
        return AuthToken(token, deadline_s, self.account_index, self.api_key_index)

    def _sign_many(self, requests: tuple[TxRequest, ...], first_nonce: int) -> list[SignedTx]:
        if not requests:
            raise ValueError("a batch needs at least one request")
        if len(requests) > self.max_batch_size:
            raise ValueError(f"batch of {len(requests)} exceeds max_batch_size={self.max_batch_size}")
        _check_int("first_nonce", first_nonce, 0, _MAX_I63 - len(requests))
        if self._key is not None and all(type(r) is OrderRequest for r in requests):
            # one core call (one GIL release) for an order batch
            orders = [_order_tuple(r) for r in requests]  # type: ignore[arg-type]
            attrs = {tuple(_order_attributes(r)) for r in requests}  # type: ignore[arg-type]
            if len(attrs) == 1:
                try:
                    out = self._native_key("SignCreateOrder").sign_create_orders(
                        orders, first_nonce, attributes=list(attrs.pop()))
                except ValueError as exc:
                    operation, _, message = str(exc).partition(": ")
                    raise LighterSignerError(operation, message) from None
                return [SignedTx(tx_type=t, tx_info=info, tx_hash=h, nonce=first_nonce + i)
                        for i, (t, info, h) in enumerate(out)]
        return [self._sign_one(request, first_nonce + i) for i, request in enumerate(requests)]

    # -- native backend

    def _native_key(self, operation: str) -> Any:
        key = self._key
        if key is None or self._closed:
            raise LighterSignerError(operation, "signer is closed")
        return key

    def _sign_native(self, request: TxRequest, nonce: int, expired_at: int = 0) -> SignedTx:
        """``expired_at`` (ms) 0 = now + 10 min - 1 s, like the Go library."""
        _check_int("nonce", nonce, 0, _MAX_I63)
        try:
            if isinstance(request, OrderRequest):
                operation = "SignCreateOrder"
                out = self._native_key(operation).sign_create_order(
                    _order_tuple(request), nonce, expired_at=expired_at, attributes=_order_attributes(request))
            elif isinstance(request, CancelRequest):
                operation = "SignCancelOrder"
                out = self._native_key(operation).sign_cancel_order(request.market_index, request.order_index,
                                                                    nonce, expired_at=expired_at)
            elif isinstance(request, CancelAllRequest):
                operation = "SignCancelAllOrders"
                attrs = [] if request.market_index is None else [(_ATTR_CANCEL_ALL_MARKET, request.market_index)]
                out = self._native_key(operation).sign_cancel_all_orders(
                    int(request.time_in_force), request.time_ms, nonce, expired_at=expired_at, attributes=attrs)
            elif isinstance(request, ModifyRequest):
                operation = "SignModifyOrder"
                attrs = _order_attributes(request)
                if request.order_version:
                    attrs.append((_ATTR_ORDER_VERSION, request.order_version))
                out = self._native_key(operation).sign_modify_order(
                    request.market_index, request.order_index, request.base_amount, request.price,
                    request.trigger_price, nonce, expired_at=expired_at, attributes=attrs)
            elif isinstance(request, GroupedOrdersRequest):
                operation = "SignCreateGroupedOrders"
                out = self._native_key(operation).sign_create_grouped_orders(
                    int(request.grouping_type), [_order_tuple(o) for o in request.orders], nonce,
                    expired_at=expired_at, attributes=_order_attributes(request))
            else:
                raise TypeError(f"cannot sign a {type(request).__name__}")
        except ValueError as exc:
            operation, _, message = str(exc).partition(": ")
            raise LighterSignerError(operation, message) from None
        return SignedTx(tx_type=out[0], tx_info=out[1], tx_hash=out[2], nonce=nonce)

    def _auth_token_native(self, deadline_s: int) -> AuthToken:
        token = self._native_key("CreateAuthToken").create_auth_token(deadline_s)
        return AuthToken(token, deadline_s, self.account_index, self.api_key_index)

    def _sign_one(self, request: TxRequest, nonce: int) -> SignedTx:
        if self._key is not None:
            return self._sign_native(request, nonce)
        _check_int("nonce", nonce, 0, _MAX_I63)  # -1 would make the library fetch a nonce over HTTP
        common = {"cSkipNonce": 0, "cNonce": nonce, "cApiKeyIndex": self.api_key_index,
                  "cAccountIndex": self.account_index}
        if isinstance(request, OrderRequest):
            operation = "SignCreateOrder"
            result = self._sign_create_order(
                cMarketIndex=request.market_index, cClientOrderIndex=request.client_order_index,
                cBaseAmount=request.base_amount, cPrice=_as_c_int_bits(request.price),
                cIsAsk=int(request.is_ask), cOrderType=int(request.order_type),
                cTimeInForce=int(request.time_in_force), cReduceOnly=int(request.reduce_only),
                cTriggerPrice=_as_c_int_bits(request.trigger_price), cOrderExpiry=request.order_expiry,
                cIntegratorAccountIndex=request.integrator_account_index,
                cIntegratorTakerFee=request.integrator_taker_fee,
                cIntegratorMakerFee=request.integrator_maker_fee,
                cSelfTradeBehaviorMode=int(request.self_trade_behavior),
                cSelfTradeEqualityMode=int(request.self_trade_equality), **common,
            )
        elif isinstance(request, CancelRequest):
            operation = "SignCancelOrder"
            result = self._sign_cancel(cMarketIndex=request.market_index, cOrderIndex=request.order_index,
                                       **common)
        elif isinstance(request, CancelAllRequest):
            operation = "SignCancelAllOrders"
            market = NIL_MARKET_INDEX if request.market_index is None else request.market_index
            result = self._sign_cancel_all(cTimeInForce=int(request.time_in_force), cTime=request.time_ms,
                                           cCancelAllMarketIndex=market, **common)
        elif isinstance(request, ModifyRequest):
            operation = "SignModifyOrder"
            result = self._sign_modify(
                cMarketIndex=request.market_index, cIndex=request.order_index,
                cBaseAmount=request.base_amount,
                cPrice=request.price, cTriggerPrice=request.trigger_price,
                cIntegratorAccountIndex=request.integrator_account_index,
                cIntegratorTakerFee=request.integrator_taker_fee,
                cIntegratorMakerFee=request.integrator_maker_fee,
                cSelfTradeBehaviorMode=int(request.self_trade_behavior),
                cSelfTradeEqualityMode=int(request.self_trade_equality),
                cOrderVersion=request.order_version, **common,
            )
        elif isinstance(request, GroupedOrdersRequest):
            operation = "SignCreateGroupedOrders"
            result = self._sign_grouped(request, common)
        else:
            raise TypeError(f"cannot sign a {type(request).__name__}")
        return self._decode(operation, result, nonce)

    def _sign_grouped(self, group: GroupedOrdersRequest, common: dict[str, int]) -> Any:
        fn = self._lib.function("SignCreateGroupedOrders", _SIGN_GROUPED)
        if self._order_struct is None:
            self._order_struct = self._lib.struct_type("CreateOrderTxReq", _ORDER_STRUCT_FIELDS)
        array = (self._order_struct * len(group.orders))()
        for slot, order in zip(array, group.orders, strict=True):
            slot.MarketIndex = order.market_index
            slot.ClientOrderIndex = order.client_order_index
            slot.BaseAmount = order.base_amount
            slot.Price = order.price
            slot.IsAsk = int(order.is_ask)
            slot.Type = int(order.order_type)
            slot.TimeInForce = int(order.time_in_force)
            slot.ReduceOnly = int(order.reduce_only)
            slot.TriggerPrice = order.trigger_price
            slot.OrderExpiry = order.order_expiry
        return fn(
            cGroupingType=int(group.grouping_type), cOrders=array, cLen=len(group.orders),
            cIntegratorAccountIndex=group.integrator_account_index,
            cIntegratorTakerFee=group.integrator_taker_fee, cIntegratorMakerFee=group.integrator_maker_fee,
            cSelfTradeBehaviorMode=int(group.self_trade_behavior),
            cSelfTradeEqualityMode=int(group.self_trade_equality), **common,
        )

    def _decode(self, operation: str, result: Any, nonce: int) -> SignedTx:
        take = self._lib.take_string
        err = take(result.err)
        tx_info = take(result.txInfo)
        tx_hash = take(result.txHash)
        take(result.messageToSign)  # only L1-signed tx types set it; always free it
        return self._complete(operation, nonce, int(result.txType), tx_info, tx_hash, err)

    @staticmethod
    def _complete(operation: str, nonce: int, tx_type: int, tx_info: str | None, tx_hash: str | None,
                         err: str | None) -> SignedTx:
        """One decoded library result (either path) as a SignedTx, or the library's error raised."""
        if err is not None:
            raise LighterSignerError(operation, err)
        if not tx_info or not tx_info.startswith("{"):
            raise LighterSignerError(operation, "library returned no tx_info")
        return SignedTx(tx_type=tx_type, tx_info=tx_info, tx_hash=tx_hash, nonce=nonce)


_ATTR_INTEGRATOR_ACCOUNT = 1
_ATTR_INTEGRATOR_TAKER_FEE = 2
_ATTR_INTEGRATOR_MAKER_FEE = 3
_ATTR_CANCEL_ALL_MARKET = 5
_ATTR_SELF_TRADE_BEHAVIOR = 6
_ATTR_SELF_TRADE_EQUALITY = 7
_ATTR_ORDER_VERSION = 8


def _order_tuple(o: OrderRequest) -> tuple[int, ...]:
    return (o.market_index, o.client_order_index, o.base_amount, o.price, int(o.is_ask), int(o.order_type),
            int(o.time_in_force), int(o.reduce_only), o.trigger_price, o.order_expiry)


def _order_attributes(r: OrderRequest | ModifyRequest | GroupedOrdersRequest) -> list[tuple[int, int]]:
    """The tx attributes the Go library sets: only values that differ from their defaults."""
    attrs = []
    if r.integrator_account_index:
        attrs.append((_ATTR_INTEGRATOR_ACCOUNT, r.integrator_account_index))
    if r.integrator_taker_fee:
        attrs.append((_ATTR_INTEGRATOR_TAKER_FEE, r.integrator_taker_fee))
    if r.integrator_maker_fee:
        attrs.append((_ATTR_INTEGRATOR_MAKER_FEE, r.integrator_maker_fee))
    if r.self_trade_behavior:
        attrs.append((_ATTR_SELF_TRADE_BEHAVIOR, int(r.self_trade_behavior)))
    if r.self_trade_equality:
        attrs.append((_ATTR_SELF_TRADE_EQUALITY, int(r.self_trade_equality)))
    return attrs


def _redact(message: str, key_hex: str) -> str:
    # Library messages for CreateClient can quote parts of the input; never let the key through.
    return message.replace(key_hex, "<redacted>").replace(key_hex.upper(), "<redacted>")


def generate_api_key(library: LighterLibrary | None = None, *, backend: str = "native") -> tuple[str, str]:
    """A fresh (private_key_hex, public_key_hex) pair, each ``0x`` + 80 hex digits.

    ``backend="native"`` draws it in the core from the OS random generator; ``"go"`` asks the library
    on a short-lived thread of its own so that it is safe to call from a coroutine's thread too; it
    blocks the caller for about a millisecond).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "native" and library is None:
        private, public = _core.lighter_generate_api_key()
        return "0x" + private, "0x" + public
    lib = library if library is not None else load_library()
    fn = lib.function("GenerateAPIKey", ())

    def generate() -> tuple[str, str]:
        result = fn()
        private = lib.take_string(result.privateKey)
        public = lib.take_string(result.publicKey)
        err = lib.take_string(result.err)
        if err is not None or not private or not public:
            raise LighterSignerError("GenerateAPIKey", err or "library returned no key")
        return private, public

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="xtb-lighter-keygen") as pool:
        return pool.submit(generate).result()
