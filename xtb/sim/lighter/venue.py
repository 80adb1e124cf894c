"""Lighter's view of the simulated venue: signed L2 txs -> engine calls, engine events -> channel data.

Lighter-specific state lives here, not in the engine: registered API keys (public keys per
(account, api_key_index)), the nonce of each key, scheduled cancel-all deadlines, recent trades, and
per-account order/trade/position change sets that the WS server turns into `account_*` updates.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from xtb import _core
from xtb.sim.engine import Exchange
from xtb.sim.lighter import txinfo, wire
from xtb.sim.lighter.txinfo import TxError
from xtb.sim.ticker import RollingTicker
from xtb.sim.types import (
    BalanceEvent,
    BookDelta,
    ErrorCode,
    FillEvent,
    FundingEvent,
    MarketSpec,
    MarkPriceEvent,
    OrderEvent,
    OrderRequest,
    OrderType,
    OrderView,
    PositionEvent,
    SelfTradeMode,
    Side,
    SimError,
    TimeInForce,
    TradeEvent,
)

MAX_BATCH = 50
RECENT_TRADES = 100
TX_RECORD = 10_000  # accepted txs kept for tx/txs/accountTxs/blockTxs (oldest dropped first)
MARK_SAMPLES = 20_000  # mark-price samples kept per market for markPriceCandles
FUNDING_RECORD = 2_000  # funding payments kept per market for fundings
TIERS = {"standard": 0, "premium": 1}  # changeAccountTier names -> the account object's account_type
TIER_COOLDOWN_MS = 24 * 3600 * 1000  # the newer docs' minimum time between two tier switches
# Transaction status (account_tx / EnrichedTx): 0 failed, 1 pending, 2 executed.
TX_FAILED, TX_PENDING, TX_EXECUTED = 0, 1, 2
AUTH_MAX_AHEAD_S = 8 * 3600 + 60
_STB = {0: SelfTradeMode.REJECT_MAKER, 1: SelfTradeMode.REJECT_TAKER, 2: SelfTradeMode.REJECT_BOTH}

_ENGINE_ERRORS: dict[ErrorCode, tuple[int, str]] = {
    ErrorCode.UNKNOWN_MARKET: (21602, "invalid market index"),
    ErrorCode.UNKNOWN_ACCOUNT: (21501, "invalid tx info: unknown account"),
    ErrorCode.INVALID_PRICE: (21702, "invalid price"),
    ErrorCode.PRICE_NOT_ON_TICK: (21702, "invalid price"),
    ErrorCode.PRICE_OUT_OF_RANGE: (21702, "invalid price"),
    ErrorCode.PRICE_OUT_OF_BAND: (21734, "limit order price is too far from the mark price"),
    ErrorCode.INVALID_QUANTITY: (21701, "invalid base amount"),
    ErrorCode.QUANTITY_NOT_ON_STEP: (21701, "invalid base amount"),
    ErrorCode.QUANTITY_BELOW_MIN: (21706, "invalid order amount"),
    ErrorCode.QUANTITY_ABOVE_MAX: (21706, "invalid order amount"),
    ErrorCode.NOTIONAL_BELOW_MIN: (21706, "invalid order amount"),
    ErrorCode.DUPLICATE_CLIENT_ID: (21728, "client order index already exists"),
    ErrorCode.ORDER_NOT_FOUND: (21600, "given order is not an active limit order"),
    ErrorCode.NOT_ORDER_OWNER: (21707, "account is not owner of the order"),
    ErrorCode.TOO_MANY_OPEN_ORDERS_ACCOUNT: (21717, "max active limit orders per account"),
    ErrorCode.TOO_MANY_OPEN_ORDERS_MARKET: (21718, "max active limit orders per market"),
    ErrorCode.INSUFFICIENT_MARGIN: (21739, "not enough margin to create the order"),
    ErrorCode.REDUCE_ONLY_WOULD_INCREASE: (21732, "reduce only increases position"),
    ErrorCode.INVALID_ORDER: (21706, "invalid order"),
}


def tx_error(exc: SimError) -> TxError:
    code, message = _ENGINE_ERRORS.get(exc.code, (21501, "invalid tx info"))
    return TxError(code, f"{message}: {exc.message}")


@dataclass(frozen=True, slots=True)
class SpeedBump:
    """Account-tier latency before a tx reaches the matching engine. Takers: market orders and limit orders
    that cross; everything else (resting orders, cancels, modifies) waits `maker_ms`."""

    taker_ms: int = 0
    maker_ms: int = 0


SPEED_BUMPS = {
    "none": SpeedBump(),
    "standard": SpeedBump(taker_ms=300, maker_ms=200),
    "premium": SpeedBump(taker_ms=200, maker_ms=0),
}


@dataclass(frozen=True, slots=True)
class ChannelMessage:
    """`kind`: "book" (BookDelta), "trade" (public trade dict) or "account" (account index changed)."""

    kind: str
    market: int | None
    account: int | None
    payload: Any


class LighterVenue:
    def __init__(
        self,
        engine: Exchange,
        *,
        now_ms: Callable[[], int] | None = None,
        speed_bump: SpeedBump | None = None,
    ) -> None:
        self.engine = engine
        self.cash_decimals = engine.rules.cash_decimals
        self._specs: dict[int, MarketSpec] = {s.market_id: s for s in engine.markets}
        self._now_ms = now_ms or (lambda: time.time_ns() // 1_000_000)
        self._api_keys: dict[tuple[int, int], str] = {}
        self._nonces: dict[tuple[int, int], int] = {}
        self._order_nonce: dict[int, int] = {}
        self._client_ids: dict[int, int] = {}  # order id -> client order index, for trade objects
        self._scheduled_cancel_all: dict[int, int] = {}  # account -> deadline ms
        self.recent_trades: dict[int, deque[dict[str, Any]]] = {
            m: deque(maxlen=RECENT_TRADES) for m in self._specs
        }
        self.account_trades: dict[int, dict[int, deque[dict[str, Any]]]] = {}
        # Market statistics that move as trades print: 24 h figures, open interest (sum of long sizes),
        # the last funding paid (rate ppm, ms).
        self._daily: dict[int, RollingTicker] = {m: RollingTicker() for m in self._specs}
        self._open_interest: dict[int, int] = dict.fromkeys(self._specs, 0)
        self._position_sizes: dict[tuple[int, int], int] = {}
        self._last_funding: dict[int, tuple[int, int]] = {}
        self._listeners: list[Callable[[ChannelMessage], None]] = []
        self.volume_quota = 1000
        self.speed_bump = speed_bump or SpeedBump()
        self.sequencer_rejections: deque[tuple[txinfo.Tx, int, str]] = deque(maxlen=1000)
        # The chain as the API shows it: one block per accepted sendTx/sendTxBatch, a bounded tx record.
        self.height = 0
        self._sequence = 0
        self.txs: OrderedDict[str, dict[str, Any]] = OrderedDict()  # hash -> Transaction, oldest first
        self._tiers: dict[int, tuple[str, int]] = {}  # account -> (tier, switched at ms)
        self._fundings: dict[int, deque[tuple[int, int, int]]] = {
            m: deque(maxlen=FUNDING_RECORD) for m in self._specs
        }  # (ms, rate ppm, mark price)
        self._marks: dict[int, deque[tuple[int, int]]] = {m: deque(maxlen=MARK_SAMPLES) for m in self._specs}
        self.skew_ms: Callable[[], int] = lambda: 0  # the venue clock's offset (fault injection)
        #: chain ids whose tx signatures are accepted: one simulator stands for mainnet (304) or testnet (300)
        self.chain_ids: tuple[int, ...] = (304, 300)
        engine.subscribe(self._on_event)

    # ------------------------------------------------------------------ accounts and keys

    def register_api_key(self, account: int, api_key_index: int, public_key: str, nonce: int = 0) -> None:
        """Register `public_key` (0x + 80 hex, from the native signer's GenerateAPIKey) for the account."""
        key = public_key.removeprefix("0x")
        if len(key) != 80 or any(c not in "0123456789abcdefABCDEF" for c in key):
            raise ValueError("public_key must be 40 bytes of hex (0x + 80 hex digits)")
        if not 0 <= api_key_index <= txinfo.MAX_API_KEY_INDEX:
            raise ValueError(f"api_key_index must be 0..{txinfo.MAX_API_KEY_INDEX}")
        self._api_keys[(account, api_key_index)] = key.lower()  # served without 0x, as the signer expects
        self._nonces[(account, api_key_index)] = nonce

    def api_keys(self, account: int, api_key_index: int) -> list[dict[str, Any]]:
        out = []
        for (acct, idx), pub in sorted(self._api_keys.items()):
            if acct == account and api_key_index in (255, idx):
                out.append(
                    {
                        "account_index": acct,
                        "api_key_index": idx,
                        "nonce": self._nonces[(acct, idx)],
                        "public_key": pub,
                        "transaction_time": 0,
                    }
                )
        return out

    def next_nonce(self, account: int, api_key_index: int) -> int:
        key = (account, api_key_index)
        if key not in self._api_keys:
            raise TxError(
                21501, f"invalid tx info: api key {api_key_index} is not registered for account {account}"
            )
        return self._nonces[key]

    def has_account(self, account: int) -> bool:
        return account in self.engine.accounts()

    def now_ms(self) -> int:
        return self._now_ms() + self.skew_ms()

    def check_auth(self, token: str | None, account: int) -> None:
        """Validate a `{deadline}:{account}:{api_key}:{sig hex}` auth token's shape, expiry, key and
        signature (the core's native verifier)."""
        if not token:
            raise TxError(20001, "invalid auth: missing auth token")
        parts = token.split(":")
        if len(parts) != 4 or not all(parts[:3]) or not all(p.isdigit() for p in parts[:3]):
            raise TxError(20001, "invalid auth: malformed token")
        deadline, acct, key = (int(p) for p in parts[:3])
        now_s = self.now_ms() // 1000
        if deadline < now_s:
            raise TxError(20001, "invalid auth: token expired")
        if deadline > now_s + AUTH_MAX_AHEAD_S:
            raise TxError(20001, "invalid auth: token expiry too far ahead")
        if acct != account:
            raise TxError(20001, "invalid auth: token is for another account")
        if (acct, key) not in self._api_keys:
            raise TxError(20001, "invalid auth: api key not registered")
        try:
            sig = bytes.fromhex(parts[3])
        except ValueError:
            raise TxError(20001, "invalid auth: signature is not hex") from None
        if len(sig) != txinfo.SIG_BYTES:
            raise TxError(20001, "invalid auth: signature must be 80 bytes")
        if not _core.lighter_verify_auth_token(token, self._api_keys[(acct, key)]):
            raise TxError(20001, "invalid auth: invalid signature")

    def add_listener(self, listener: Callable[[ChannelMessage], None]) -> None:
        self._listeners.append(listener)

    def spec(self, market: int) -> MarketSpec | None:
        return self._specs.get(market)

    def markets(self) -> list[MarketSpec]:
        return list(self._specs.values())

    # ------------------------------------------------------------------ transactions

    def _check_signer(self, header: txinfo.TxHeader, expected_nonce: dict[tuple[int, int], int]) -> None:
        key = (header.account_index, header.api_key_index)
        if key not in self._api_keys:
            raise TxError(
                21501,
                f"invalid tx info: api key {header.api_key_index} is not registered "
                f"for account {header.account_index}",
            )
        if header.skip_nonce:
            return
        expected = expected_nonce.get(key, self._nonces[key])
        if header.nonce != expected:
            raise TxError(400, "invalid nonce")
        expected_nonce[key] = expected + 1

    def decode(self, tx_type: int, tx_info: Any) -> txinfo.Tx:
        tx = txinfo.decode_tx(tx_type, tx_info, self.now_ms())
        self._verify_signature(tx_type, tx_info, tx.header)
        return tx

    def _verify_signature(self, tx_type: int, tx_info: Any, header: txinfo.TxHeader) -> None:
        """Schnorr-verify `Sig` over the tx hash with the registered key (the core's native verifier).
        An unregistered key is left to `_check_signer`, which names it."""
        public_key = self._api_keys.get((header.account_index, header.api_key_index))
        if public_key is None:
            return
        text = tx_info if isinstance(tx_info, (str, bytes)) else orjson.dumps(tx_info)
        text = text.decode() if isinstance(text, bytes) else text
        reason = None
        for chain_id in self.chain_ids:
            ok, reason, _ = _core.lighter_verify_tx(tx_type, text, chain_id, public_key)
            if ok:
                return
        raise TxError(21501, f"invalid tx info: {reason}")

    def send_tx(self, tx_type: int, tx_info: Any) -> dict[str, Any]:
        tx = self.decode(tx_type, tx_info)
        self._check_signer(tx.header, {})
        hashes = _hashes(tx_info, 1)
        delay = self._submit([tx], [(tx_type, tx_info)], hashes)
        return self._reply(hashes, tx_info, delay)

    def send_tx_batch(self, tx_types: list[Any], tx_infos: list[Any]) -> dict[str, Any]:
        if len(tx_types) != len(tx_infos):
            raise TxError(21513, "TxInfos and TxTypes should have the same length")
        if not tx_types:
            raise TxError(21501, "invalid tx info: empty batch")
        if len(tx_types) > MAX_BATCH:
            raise TxError(21514, f"maximum {MAX_BATCH} transactions allowed per batch")
        txs = []
        pending: dict[tuple[int, int], int] = {}
        for i, (tx_type, info) in enumerate(zip(tx_types, tx_infos, strict=True)):
            if isinstance(tx_type, bool) or not isinstance(tx_type, int):
                raise TxError(21505, f"tx {i}: tx type must be an integer")
            try:
                tx = self.decode(tx_type, info)
                self._check_signer(tx.header, pending)
            except TxError as exc:
                raise TxError(exc.code, f"tx {i}: {exc.message}") from None
            txs.append(tx)
        hashes = _hashes(tx_infos, len(txs))
        delay = self._submit(txs, list(zip(tx_types, tx_infos, strict=True)), hashes)
        return self._reply(hashes, tx_infos, delay)

    def _submit(self, txs: list[txinfo.Tx], raws: list[tuple[int, Any]], hashes: list[str]) -> int:
        """Apply validated txs now, or after the account tier's speed bump. Returns the largest delay (ms).

        Without a speed bump the API server and the sequencer are one step: an engine refusal is an HTTP 400
        and the nonce is not used. With one, the API accepts (nonces used), and the engine runs each tx when
        its delay has passed; a refusal then is a sequencer rejection, kept in `sequencer_rejections`.
        """
        for tx in txs:
            self._precheck(tx)
        delays = [self._delay_ms(tx) for tx in txs]
        if not any(delays):
            # Applied in order; an engine refusal stops the batch there: earlier txs stand (their nonces
            # are used, they make this submission's block), the refused one and later ones are not applied.
            made_block = False
            try:
                for i, tx in enumerate(txs):
                    try:
                        self._execute(tx)
                    except TxError as exc:
                        raise TxError(
                            exc.code, f"tx {i}: {exc.message}" if len(txs) > 1 else exc.message
                        ) from None
                    self._consume_nonce(tx.header)
                    if not made_block:
                        self.height += 1  # the first applied tx makes the block
                        made_block = True
                    self._record_tx(tx, raws[i], hashes[i], i, TX_EXECUTED)
            finally:
                if made_block:
                    self._emit(ChannelMessage("height", None, None, self.height))
            return 0
        self.height += 1  # accepted by the API: the block is made now, its txs run after the speed bump
        loop = asyncio.get_running_loop()
        for i, (tx, delay) in enumerate(zip(txs, delays, strict=True)):
            self._consume_nonce(tx.header)
            record = self._record_tx(tx, raws[i], hashes[i], i, TX_PENDING)
            loop.call_later(delay / 1000, self._execute_late, tx, record)
        self._emit(ChannelMessage("height", None, None, self.height))
        return max(delays)

    def _execute_late(self, tx: txinfo.Tx, record: dict[str, Any]) -> None:
        try:
            self._execute(tx)
        except TxError as exc:
            self.sequencer_rejections.append((tx, exc.code, exc.message))
            self._settle_tx(record, TX_FAILED, exc.message)
            return
        self._settle_tx(record, TX_EXECUTED, "")

    # ------------------------------------------------------------------ the tx record

    def _record_tx(self, tx: txinfo.Tx, raw: tuple[int, Any], tx_hash: str, index: int, status: int) -> dict[str, Any]:
        """Keep an accepted tx as the venue's `Transaction` object (bounded record) and publish it on
        `account_tx`. `event_info` is the simulator's compact summary: `{"a": account, "m": market, "ae":
        app error}`."""
        tx_type, info = raw
        text = info if isinstance(info, str) else orjson.dumps(info).decode()
        header = tx.header
        now = self.now_ms()
        self._sequence += 1
        market = getattr(tx, "market_index", None)
        record = {
            "hash": tx_hash,
            "type": tx_type,
            "info": text,
            "event_info": orjson.dumps({"a": header.account_index, "m": market, "ae": ""}).decode(),
            "status": status,
            "transaction_index": index,
            "l1_address": wire.l1_address(header.account_index),
            "account_index": header.account_index,
            "nonce": header.nonce,
            "expire_at": header.expired_at,
            "block_height": self.height,
            "queued_at": now,
            "executed_at": now if status == TX_EXECUTED else 0,
            "sequence_index": self._sequence,
            "parent_hash": "",
            "api_key_index": header.api_key_index,
            "transaction_time": now * 1000,  # microseconds (the venue's samples use a finer clock than ms)
        }
        self.txs[tx_hash] = record
        while len(self.txs) > TX_RECORD:
            self.txs.popitem(last=False)
        self._emit(ChannelMessage("account_tx", market, header.account_index, record))
        return record

    def _settle_tx(self, record: dict[str, Any], status: int, app_error: str) -> None:
        record["status"] = status
        record["executed_at"] = self.now_ms()
        if app_error:
            event = orjson.loads(record["event_info"])
            event["ae"] = app_error
            record["event_info"] = orjson.dumps(event).decode()
        self._emit(ChannelMessage("account_tx", None, record["account_index"], record))

    def find_tx(self, by: str, value: str) -> dict[str, Any] | None:
        if by == "hash":
            return self.txs.get(value)
        seq = int(value)
        return next((t for t in self.txs.values() if t["sequence_index"] == seq), None)

    # ------------------------------------------------------------------ account tier

    def tier(self, account: int) -> str:
        return self._tiers.get(account, ("standard", 0))[0]

    def change_tier(self, account: int, new_tier: str) -> None:
        """`changeAccountTier`: needs no open orders or positions and 24 h since the last switch. The codes
        62001-62003 are the simulator's picks in the documented 62001-62006 tier-change range."""
        if new_tier not in TIERS:
            raise TxError(62001, f"invalid tier: new_tier must be one of {', '.join(TIERS)}")
        if self.engine.open_orders(account) or any(
            self.engine.position(account, m).size for m in self._specs
        ):
            raise TxError(62002, "account tier can only change with no open orders or positions")
        now = self.now_ms()
        last = self._tiers.get(account)
        if last is not None and now - last[1] < TIER_COOLDOWN_MS:
            raise TxError(62003, "account tier was changed less than 24 hours ago")
        self._tiers[account] = (new_tier, now)

    # ------------------------------------------------------------------ funding and mark history

    def funding_history(self, market: int) -> list[tuple[int, int, int]]:
        """(ms, rate ppm, mark price) of each funding payment, oldest first."""
        return list(self._fundings[market])

    def mark_samples(self, market: int) -> list[tuple[int, int]]:
        return list(self._marks[market])

    def _delay_ms(self, tx: txinfo.Tx) -> int:
        bump = self.speed_bump
        if not (bump.taker_ms or bump.maker_ms):
            return 0
        if isinstance(tx, txinfo.CreateOrderTx) and tx.time_in_force != txinfo.TIF_POST_ONLY:
            if tx.order_type == txinfo.ORDER_MARKET:
                return bump.taker_ms
            bid, ask = self.engine.best_bid_ask(tx.market_index)
            crosses = (
                (ask is not None and tx.price >= ask)
                if not tx.is_ask
                else (bid is not None and tx.price <= bid)
            )
            if crosses:
                return bump.taker_ms
        return bump.maker_ms

    def _reply(self, hashes: list[str], raw: Any, delay_ms: int = 0) -> dict[str, Any]:
        reply: dict[str, Any] = {
            "code": 200,
            "message": '{"ratelimit": "didn\'t use volume quota"}',
            "predicted_execution_time_ms": self.now_ms() + delay_ms + 1,
            "volume_quota_remaining": self.volume_quota,
        }
        reply["tx_hash"] = hashes[0] if len(hashes) == 1 and not isinstance(raw, list) else hashes
        return reply

    def _consume_nonce(self, header: txinfo.TxHeader) -> None:
        if not header.skip_nonce:
            self._nonces[(header.account_index, header.api_key_index)] = header.nonce + 1

    def _precheck(self, tx: txinfo.Tx) -> None:
        """What the API server refuses without asking the engine (HTTP 400, nonce not used)."""
        if isinstance(tx, txinfo.GroupedOrdersTx):
            raise TxError(21505, "CreateGroupedOrders (OTO/OCO/OTOCO) is not modelled by the simulator")
        if isinstance(tx, txinfo.CreateOrderTx):
            self._order_request(tx)
        elif isinstance(tx, txinfo.ModifyOrderTx) and tx.trigger_price:
            raise TxError(21702, "invalid TriggerPrice: only limit orders can be modified here")
        elif not isinstance(tx, txinfo.CancelAllOrdersTx) and tx.market_index not in self._specs:
            raise TxError(21602, "invalid market index")

    def _execute(self, tx: txinfo.Tx) -> None:
        """Run one tx in the engine; a refusal raises TxError with the venue's code."""
        header = tx.header
        try:
            if isinstance(tx, txinfo.CreateOrderTx):
                view = self.engine.place_order(self._order_request(tx))
                self._order_nonce[view.order_id] = header.nonce
            elif isinstance(tx, txinfo.CancelOrderTx):
                order_id, client_id = self._index(tx.index)
                self.engine.cancel_order(
                    header.account_index, tx.market_index, order_id=order_id, client_id=client_id
                )
            elif isinstance(tx, txinfo.CancelAllOrdersTx):
                self._cancel_all(tx)
            elif isinstance(tx, txinfo.ModifyOrderTx):
                order_id, client_id = self._index(tx.index)
                if order_id is None:
                    order_id = self.engine.get_order(
                        header.account_index, tx.market_index, client_id=client_id
                    ).order_id
                self.engine.modify_order(
                    header.account_index, tx.market_index, order_id, quantity=tx.base_amount, price=tx.price
                )
        except SimError as exc:
            raise tx_error(exc) from None

    def _index(self, index: int) -> tuple[int | None, int | None]:
        """Cancel/modify `Index` is a client order index below 2^48, an exchange order index above."""
        return (index, None) if index >= txinfo.ORDER_INDEX_MIN else (None, index)

    def _order_request(self, tx: txinfo.CreateOrderTx) -> OrderRequest:
        if tx.market_index not in self._specs:
            raise TxError(21602, "invalid market index")
        if tx.order_type not in (txinfo.ORDER_LIMIT, txinfo.ORDER_MARKET):
            raise TxError(21704, "invalid OrderType: trigger/TWAP orders are not modelled by the simulator")
        stb = _STB.get(tx.header.attributes.get("6", 0))
        if stb is None:
            raise TxError(21501, "invalid tx info: self-trade behaviour 3 (reduce) is not modelled")
        is_market = tx.order_type == txinfo.ORDER_MARKET
        tif = TimeInForce.IOC if tx.time_in_force == txinfo.TIF_IOC else TimeInForce.GTC
        return OrderRequest(
            account=tx.header.account_index,
            market=tx.market_index,
            side=Side.SELL if tx.is_ask else Side.BUY,
            quantity=tx.base_amount,
            price=tx.price,
            order_type=OrderType.MARKET if is_market else OrderType.LIMIT,
            time_in_force=tif,
            post_only=tx.time_in_force == txinfo.TIF_POST_ONLY,
            reduce_only=tx.reduce_only,
            client_id=tx.client_order_index or None,
            self_trade=stb,
            expiry_ns=0 if tif is TimeInForce.IOC else tx.order_expiry * 1_000_000,
        )

    def _cancel_all(self, tx: txinfo.CancelAllOrdersTx) -> None:
        account = tx.header.account_index
        market = None if tx.market_index == txinfo.ALL_MARKETS else tx.market_index
        if market is not None and market not in self._specs:
            raise TxError(21602, "invalid market index")
        if tx.time_in_force == 0:
            self.engine.cancel_all(account, market)
        elif tx.time_in_force == 1:
            if account in self._scheduled_cancel_all:
                raise TxError(21712, "queued cancel-all exists")
            self._scheduled_cancel_all[account] = tx.time
        else:
            self._scheduled_cancel_all.pop(account, None)

    def poll(self) -> None:
        """Run scheduled cancel-alls (the dead-man switch) and the engine's timers."""
        now = self.now_ms()
        for account, deadline in list(self._scheduled_cancel_all.items()):
            if deadline <= now:
                del self._scheduled_cancel_all[account]
                self.engine.cancel_all(account, None)
        self.engine.poll_timers()

    def cancel_all_time(self, account: int) -> int:
        return self._scheduled_cancel_all.get(account, 0)

    def on_disconnect(self, account: int, cancel: bool) -> None:
        self.engine.set_cancel_on_disconnect(account, cancel)
        self.engine.on_disconnect(account)

    # ------------------------------------------------------------------ reads

    def order(self, o: OrderView) -> dict[str, Any]:
        return wire.order_object(
            o, self._specs[o.market], self.cash_decimals, self._order_nonce.get(o.order_id, 0)
        )

    def active_orders(self, account: int, market: int | None) -> list[dict[str, Any]]:
        return [self.order(o) for o in self.engine.open_orders(account, market)]

    def orders_by_market(self, account: int, orders: list[OrderView]) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for o in orders:
            out.setdefault(str(o.market), []).append(self.order(o))
        return out

    def positions(self, account: int) -> list[dict[str, Any]]:
        out = []
        for spec in self._specs.values():
            pos = self.engine.position(account, spec.market_id)
            if pos.size == 0 and not self.engine.open_orders(account, spec.market_id):
                continue
            out.append(
                wire.position_object(
                    pos,
                    spec,
                    self.cash_decimals,
                    len(self.engine.open_orders(account, spec.market_id)),
                    self.engine.cash_scale(spec.market_id),
                )
            )
        return out

    def account(self, account: int) -> dict[str, Any]:
        bal = self.engine.balance(account)
        obj = wire.account_object(
            account, bal, self.positions(account), len(self.engine.open_orders(account)), self.cash_decimals
        )
        obj["cancel_all_time"] = self.cancel_all_time(account)
        obj["account_type"] = TIERS[self.tier(account)]
        return obj

    def book_orders(self, market: int, limit: int) -> dict[str, Any]:
        spec = self._specs[market]
        bids, asks = self.engine.book_orders(market, limit)
        bids, asks = bids[:limit], asks[:limit]  # the engine's depth counts levels; the venue counts orders
        return {
            "code": 200,
            "total_asks": len(asks),
            "asks": [wire.simple_order(o, spec) for o in asks],
            "total_bids": len(bids),
            "bids": [wire.simple_order(o, spec) for o in bids],
        }

    def book_levels(self, market: int) -> tuple[int, list[dict[str, str]], list[dict[str, str]]]:
        spec = self._specs[market]
        snap = self.engine.book_snapshot(market)
        fmt = [
            {"price": spec.format_price(lv.price), "size": spec.format_quantity(lv.size)} for lv in snap.asks
        ]
        bids = [
            {"price": spec.format_price(lv.price), "size": spec.format_quantity(lv.size)} for lv in snap.bids
        ]
        return snap.seq, fmt, bids

    def detail(self, market: int) -> dict[str, Any]:
        spec = self._specs[market]
        detail = wire.order_book_detail(
            spec,
            self.engine.last_trade_price(market),
            self.engine.mark_price(market),
            self.engine.index_price(market),
        )
        detail.update(self.daily_stats(market))
        detail["open_interest"] = float(self._base(spec, self._open_interest[market]))
        return detail

    @staticmethod
    def _base(spec: MarketSpec, quantity: int) -> Decimal:
        return Decimal(quantity).scaleb(-spec.size_decimals)

    def daily_stats(self, market: int) -> dict[str, Any]:
        """The `daily_*` figures (floats, as the venue sends them) over the last 24 h of trades."""
        spec = self._specs[market]
        st = self._daily[market].stats(self.engine.clock.now_ns())
        last = self.engine.last_trade_price(market) or 0
        if st is None:
            px = float(Decimal(last).scaleb(-spec.price_decimals))
            return {
                "daily_trades_count": 0,
                "daily_base_token_volume": 0.0,
                "daily_quote_token_volume": 0.0,
                "daily_price_low": px,
                "daily_price_high": px,
                "daily_price_change": 0.0,
            }
        quote = Decimal(st.quote_volume).scaleb(-(spec.price_decimals + spec.size_decimals))
        return {
            "daily_trades_count": st.trades,
            "daily_base_token_volume": float(self._base(spec, st.volume)),
            "daily_quote_token_volume": float(quote),
            "daily_price_low": float(Decimal(st.low).scaleb(-spec.price_decimals)),
            "daily_price_high": float(Decimal(st.high).scaleb(-spec.price_decimals)),
            # percent, as in the venue's samples (0.529 for +0.529 %)
            "daily_price_change": float((Decimal(st.last - st.first) * 100 / st.first) if st.first else 0),
        }

    def market_stats(self, market: int) -> dict[str, Any]:
        """One market's `market_stats` channel object."""
        spec = self._specs[market]
        e = self.engine
        rate_ppm, funding_ms = self._last_funding.get(market, (0, 0))
        return {
            "symbol": spec.symbol,
            "market_id": market,
            "index_price": spec.format_price(e.index_price(market) or 0),
            "mark_price": spec.format_price(e.mark_price(market) or 0),
            "open_interest": spec.format_quantity(self._open_interest[market]),
            "open_interest_limit": "0",  # no open-interest limit is modelled
            "funding_clamp_small": "0",
            "funding_clamp_big": "0",
            "last_trade_price": spec.format_price(e.last_trade_price(market) or 0),
            # rates in percent per funding interval
            "current_funding_rate": format(Decimal(e.funding_rate(market)).scaleb(-4).normalize(), "f"),
            "funding_rate": format(Decimal(rate_ppm).scaleb(-4).normalize(), "f"),
            "funding_timestamp": funding_ms,
            **self.daily_stats(market),
        }

    def candles(self, market: int, resolution_s: int, start_ms: int, end_ms: int, count: int) -> list[dict[str, Any]]:
        """`/api/v1/candles` from the one-minute trade buckets of the last 24 h: the last `count` candles
        starting in [start_ms, end_ms], oldest first; prices and volumes as numbers, `t` in ms."""
        spec = self._specs[market]
        rows: dict[int, list[int]] = {}
        for b in self._daily[market].buckets(self.engine.clock.now_ns()):
            t = b.minute * 60
            key = t - t % resolution_s
            if not start_ms <= key * 1000 <= end_ms:
                continue
            row = rows.get(key)
            if row is None:
                rows[key] = [b.open, b.high, b.low, b.close, b.volume, b.quote_volume, b.last_trade_id]
            else:
                row[1] = max(row[1], b.high)
                row[2] = min(row[2], b.low)
                row[3] = b.close
                row[4] += b.volume
                row[5] += b.quote_volume
                row[6] = b.last_trade_id

        def px(v: int) -> float:
            return float(Decimal(v).scaleb(-spec.price_decimals))

        out = []
        for key in sorted(rows)[-count:]:
            o, h, low, close, volume, quote, last_id = rows[key]
            out.append(
                {
                    "t": key * 1000,
                    "o": px(o),
                    "h": px(h),
                    "l": px(low),
                    "c": px(close),
                    "v": float(self._base(spec, volume)),
                    "V": float(Decimal(quote).scaleb(-(spec.price_decimals + spec.size_decimals))),
                    "i": last_id,
                }
            )
        return out

    def user_stats(self, account: int) -> dict[str, Any]:
        """The `user_stats` channel's `stats`: USDC amounts as strings; `leverage` = position notional at
        mark / equity, `margin_usage` = initial margin / equity in percent (the simulator's reading of the
        field), `buying_power` = available x the account's leverage."""
        bal = self.engine.balance(account)
        c = self.cash_decimals
        notional = 0
        for spec in self._specs.values():
            pos = self.engine.position(account, spec.market_id)
            if pos.size and pos.mark_price is not None:
                notional += abs(pos.size) * pos.mark_price * self.engine.cash_scale(spec.market_id)
        equity = bal.equity
        leverage = Decimal(notional) / equity if equity > 0 else Decimal(0)
        usage = Decimal(bal.initial_margin) * 100 / equity if equity > 0 else Decimal(0)
        max_leverage = self.engine.account_config(account).leverage or self.engine.rules.default_leverage
        figures = {
            "collateral": wire.cash_str(bal.cash, c),
            "portfolio_value": wire.cash_str(equity, c),
            "leverage": format(leverage.quantize(Decimal("0.01")), "f"),
            "available_balance": wire.cash_str(max(bal.available, 0), c),
            "margin_usage": format(usage.quantize(Decimal("0.01")), "f"),
            "buying_power": wire.cash_str(max(bal.available, 0) * max_leverage, c),
        }
        return {**figures, "cross_stats": dict(figures), "total_stats": dict(figures)}

    def assets(self, account: int) -> dict[str, Any]:
        """The `account_all_assets` channel's `assets`, by asset id (USDC only)."""
        asset = wire.asset_object(self.engine.balance(account), self.cash_decimals)
        return {str(asset["asset_id"]): {k: asset[k] for k in ("symbol", "asset_id", "balance", "locked_balance")}}

    def inactive_orders(self, account: int, market: int | None) -> list[dict[str, Any]]:
        """Closed orders (filled, cancelled, expired), newest first, from the engine's bounded history."""
        return [self.order(o) for o in reversed(self.engine.order_history(account, market))]

    # ------------------------------------------------------------------ engine events

    def _emit(self, msg: ChannelMessage) -> None:
        for listener in self._listeners:
            listener(msg)

    def _on_event(self, event: object) -> None:
        if isinstance(event, BookDelta):
            self._emit(ChannelMessage("book", event.market, None, event))
        elif isinstance(event, FillEvent):
            if event.fill.client_id is not None:
                self._client_ids[event.fill.order_id] = event.fill.client_id
        elif isinstance(event, TradeEvent):
            spec = self._specs.get(event.market)
            if spec is None:
                return
            maker_cid = self._client_ids.get(event.maker_order_id, 0)
            taker_cid = self._client_ids.get(event.taker_order_id, 0)
            ask_cid, bid_cid = (
                (maker_cid, taker_cid) if event.taker_side is Side.BUY else (taker_cid, maker_cid)
            )
            trade = wire.trade_object(
                event, spec, self.cash_decimals, self.engine.cash_scale(event.market), (ask_cid, bid_cid)
            )
            self.recent_trades[event.market].append(trade)
            self._daily[event.market].add(event.ts_ns, event.price, event.quantity, event.trade_id)
            self._emit(ChannelMessage("market_stats", event.market, None, None))
            for acct in {event.maker_account, event.taker_account}:
                per = self.account_trades.setdefault(acct, {})
                per.setdefault(event.market, deque(maxlen=RECENT_TRADES)).append(trade)
                self._emit(ChannelMessage("account_trade", event.market, acct, trade))
            self._emit(ChannelMessage("trade", event.market, None, trade))
        elif isinstance(event, OrderEvent):
            if not event.order.is_open:
                self._client_ids.pop(event.order.order_id, None)
            self._emit(ChannelMessage("account_order", event.market, event.account, event.order))
        elif isinstance(event, PositionEvent):
            key = (event.account, event.market)
            before = self._position_sizes.get(key, 0)
            after = event.position.size
            self._position_sizes[key] = after
            if event.market in self._open_interest:
                self._open_interest[event.market] += max(after, 0) - max(before, 0)
            self._emit(ChannelMessage("account_position", event.market, event.account, event.position))
        elif isinstance(event, FundingEvent):
            ms = event.ts_ns // 1_000_000
            if self._last_funding.get(event.market, (0, -1))[1] != ms and event.market in self._fundings:
                self._fundings[event.market].append((ms, event.rate_ppm, event.mark_price))  # once per market
            self._last_funding[event.market] = (event.rate_ppm, ms)
        elif isinstance(event, BalanceEvent):
            self._emit(ChannelMessage("account_balance", None, event.account, event.balance))
        elif isinstance(event, MarkPriceEvent):
            if event.market in self._marks and event.mark_price:
                self._marks[event.market].append((event.ts_ns // 1_000_000, event.mark_price))
            self._emit(ChannelMessage("market_stats", event.market, None, None))


def _hashes(raw: Any, count: int) -> list[str]:
    """The simulator's tx hashes: 40-byte blake2b of the submitted text and the position in the batch."""
    return [hashlib.blake2b(str(raw).encode() + str(i).encode(), digest_size=40).hexdigest() for i in range(count)]
