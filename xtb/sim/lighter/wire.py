"""Render the engine's integer views as Lighter wire objects (the fields lighter-sdk's models require)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from xtb.sim.types import (
    BalanceView,
    MarketSpec,
    OrderStatus,
    OrderType,
    OrderView,
    PositionView,
    Reason,
    Side,
    TimeInForce,
    TradeEvent,
)

USDC_ASSET_ID = 3
USDC_DECIMALS = 6

_STATUS_CLOSED = {
    Reason.POST_ONLY_TAKER: "canceled-post-only",
    Reason.REDUCE_ONLY: "canceled-reduce-only",
    Reason.SELF_TRADE: "canceled-self-trade",
    Reason.EXPIRED_TIME: "canceled-expired",
    Reason.INSUFFICIENT_LIQUIDITY: "canceled-not-enough-liquidity",
    Reason.IMMEDIATE_OR_CANCEL: "canceled",
    Reason.FILL_OR_KILL: "canceled",
}


def status(o: OrderView) -> str:
    if o.status is OrderStatus.FILLED:
        return "filled"
    if o.status.is_open:
        return "open"
    return _STATUS_CLOSED.get(o.reason, "canceled")


def cash_str(cash: int, cash_decimals: int, places: int = USDC_DECIMALS) -> str:
    """Cash units -> a USDC amount with a fixed number of decimals (`"12.500000"`)."""
    value = Decimal(cash).scaleb(-cash_decimals).quantize(Decimal(1).scaleb(-places))
    return format(value, "f")


def time_in_force(o: OrderView) -> str:
    if o.time_in_force is TimeInForce.GTC:
        return "post-only" if o.post_only else "good-till-time"
    return "immediate-or-cancel"


def order_object(o: OrderView, spec: MarketSpec, cash_decimals: int, nonce: int = 0) -> dict[str, Any]:
    price = o.price or 0
    created_s = o.created_ns // 1_000_000_000
    return {
        "order_index": o.order_id,
        "client_order_index": o.client_id or 0,
        "order_id": str(o.order_id),
        "client_order_id": str(o.client_id or 0),
        "market_index": o.market,
        "owner_account_index": o.account,
        "initial_base_amount": spec.format_quantity(o.quantity),
        "price": spec.format_price(price),
        "nonce": nonce,
        "remaining_base_amount": spec.format_quantity(o.remaining if o.is_open else 0),
        "is_ask": o.side is Side.SELL,
        "base_size": o.remaining if o.is_open else 0,
        "base_price": price,
        "filled_base_amount": spec.format_quantity(o.filled),
        "filled_quote_amount": cash_str(o.filled_cash, cash_decimals),
        "side": "",
        "type": "market" if o.order_type is OrderType.MARKET else "limit",
        "time_in_force": time_in_force(o),
        "reduce_only": o.reduce_only,
        "trigger_price": spec.format_price(0),
        "order_expiry": o.expiry_ns // 1_000_000,
        "status": status(o),
        "trigger_status": "na",
        "trigger_time": 0,
        "parent_order_index": 0,
        "parent_order_id": "0",
        "to_trigger_order_id_0": "0",
        "to_trigger_order_id_1": "0",
        "to_cancel_order_id_0": "0",
        "block_height": 0,
        "timestamp": created_s,
        "created_at": created_s,
        "updated_at": o.updated_ns // 1_000_000_000,
        "transaction_time": o.updated_ns // 1_000,
        "integrator_fee_collector_index": "0",
        "integrator_maker_fee": "0",
        "integrator_taker_fee": "0",
        "order_flags": 0,
        "order_version": 0,
        "market_symbol": spec.symbol,
        "market_kind": "perps",
    }


def simple_order(o: OrderView, spec: MarketSpec) -> dict[str, Any]:
    return {
        "order_index": o.order_id,
        "order_id": str(o.order_id),
        "owner_account_index": o.account,
        "initial_base_amount": spec.format_quantity(o.quantity),
        "remaining_base_amount": spec.format_quantity(o.remaining),
        "price": spec.format_price(o.price or 0),
        "order_expiry": o.expiry_ns // 1_000_000,
        "transaction_time": o.updated_ns // 1_000,
    }


def trade_object(
    t: TradeEvent, spec: MarketSpec, cash_decimals: int, scale: int, client_ids: tuple[int, int] = (0, 0)
) -> dict[str, Any]:
    """A public Trade; `client_ids` = (ask client id, bid client id) when known."""
    is_maker_ask = t.taker_side is Side.BUY
    ask_id, bid_id = (
        (t.maker_order_id, t.taker_order_id) if is_maker_ask else (t.taker_order_id, t.maker_order_id)
    )
    ask_acct, bid_acct = (
        (t.maker_account, t.taker_account) if is_maker_ask else (t.taker_account, t.maker_account)
    )
    usd = cash_str(t.price * t.quantity * scale, cash_decimals)
    return {
        "trade_id": t.trade_id,
        "trade_id_str": str(t.trade_id),
        "tx_hash": f"{t.trade_id:080x}",
        "type": "trade",
        "market_id": t.market,
        "size": spec.format_quantity(t.quantity),
        "price": spec.format_price(t.price),
        "usd_amount": usd,
        "ask_id": ask_id,
        "bid_id": bid_id,
        "ask_account_id": ask_acct,
        "bid_account_id": bid_acct,
        "is_maker_ask": is_maker_ask,
        "block_height": 0,
        "timestamp": t.ts_ns // 1_000_000,
        "taker_position_size_before": "0",
        "taker_entry_quote_before": "0",
        "taker_initial_margin_fraction_before": 0,
        "taker_position_sign_changed": False,
        "maker_position_size_before": "0",
        "maker_entry_quote_before": "0",
        "maker_initial_margin_fraction_before": 0,
        "maker_position_sign_changed": False,
        "transaction_time": t.ts_ns // 1_000,
        "bid_account_pnl": "0",
        "ask_account_pnl": "0",
        "ask_client_id": client_ids[0],
        "bid_client_id": client_ids[1],
        "ask_client_id_str": str(client_ids[0]),
        "bid_client_id_str": str(client_ids[1]),
        "integrator_maker_fee": 0,
        "integrator_maker_fee_collector_index": 0,
        "integrator_taker_fee": 0,
        "integrator_taker_fee_collector_index": 0,
        "taker_allocated_margin_usdc_before": 0,
        "taker_allocated_margin_usdc_after": 0,
        "maker_allocated_margin_usdc_before": 0,
        "maker_allocated_margin_usdc_after": 0,
        "bid_order_version": 0,
        "ask_order_version": 0,
        "market_symbol": spec.symbol,
        "market_kind": "perps",
    }


def position_object(
    p: PositionView, spec: MarketSpec, cash_decimals: int, open_orders: int, scale: int
) -> dict[str, Any]:
    entry = p.entry_price(spec, cash_decimals)
    value = abs(p.size) * (p.mark_price or 0) * scale
    return {
        "market_id": spec.market_id,
        "symbol": spec.symbol,
        "initial_margin_fraction": format(
            Decimal(spec.initial_margin_ppm).scaleb(-4).quantize(Decimal("0.01")), "f"
        ),
        "open_order_count": open_orders,
        "pending_order_count": 0,
        "position_tied_order_count": 0,
        "sign": 1 if p.size >= 0 else -1,
        "position": spec.format_quantity(abs(p.size)),
        "avg_entry_price": "0"
        if entry is None
        else format(entry.quantize(Decimal(1).scaleb(-spec.price_decimals)), "f"),
        "position_value": cash_str(value, cash_decimals),
        "unrealized_pnl": cash_str(p.unrealized_pnl, cash_decimals),
        "realized_pnl": cash_str(p.realized_pnl, cash_decimals),
        "liquidation_price": "0",
        "total_funding_paid_out": cash_str(p.funding_paid, cash_decimals),
        "margin_mode": 0,
        "allocated_margin": "0.000000",
        "total_discount": "0",
        "margin_set_flag": 0,
    }


def asset_object(bal: BalanceView, cash_decimals: int) -> dict[str, Any]:
    return {
        "symbol": "USDC",
        "asset_id": USDC_ASSET_ID,
        "balance": cash_str(bal.cash, cash_decimals),
        "locked_balance": cash_str(0, cash_decimals),
        "margin_balance": cash_str(bal.cash, cash_decimals),
        "margin_mode": "cross",
        "multiplier": "1",
    }


def account_object(
    account: int, bal: BalanceView, positions: list[dict[str, Any]], open_orders: int, cash_decimals: int
) -> dict[str, Any]:
    return {
        "code": 0,
        "account_type": 0,
        "index": account,
        "l1_address": l1_address(account),
        "cancel_all_time": 0,
        "total_order_count": open_orders,
        "total_isolated_order_count": 0,
        "pending_order_count": 0,
        "available_balance": cash_str(max(bal.available, 0), cash_decimals),
        "status": 1,
        "collateral": cash_str(bal.cash, cash_decimals),
        "account_index": account,
        "name": "",
        "description": "",
        "can_invite": False,
        "referral_points_percentage": "0",
        "positions": positions,
        "assets": [asset_object(bal, cash_decimals)],
        "total_asset_value": cash_str(bal.equity, cash_decimals),
        "cross_asset_value": cash_str(bal.equity, cash_decimals),
        "pool_info": {
            "status": 0,
            "operator_fee": "0",
            "min_operator_share_rate": "0",
            "total_shares": 0,
            "operator_shares": 0,
            "annual_percentage_yield": 0,
            "daily_returns": [],
            "share_prices": [],
            "sharpe_ratio": 0,
            "strategies": [],
        },
        "shares": [],
        "created_at": 0,
        "transaction_time": 0,
        "can_rfq": False,
        "cross_initial_margin_requirement": cash_str(bal.initial_margin, cash_decimals),
        "cross_maintenance_margin_requirement": cash_str(bal.initial_margin // 2, cash_decimals),
        "can_rfq_market_ids": [],
        "metadata": {"color": ""},
        "agent_enabled": False,
    }


def _fee_str(ppm: int) -> str:
    return format(Decimal(ppm).scaleb(-4).quantize(Decimal("0.0001")), "f")  # percent with 4 decimals


def market_base(spec: MarketSpec) -> dict[str, Any]:
    return {
        "symbol": spec.symbol,
        "market_id": spec.market_id,
        "market_type": "perp",
        "base_asset_id": 0,
        "quote_asset_id": USDC_ASSET_ID,
        "status": "active",
        "taker_fee": _fee_str(spec.taker_fee_ppm),
        "maker_fee": _fee_str(spec.maker_fee_ppm),
        "liquidation_fee": "1.0000",
        "min_base_amount": spec.format_quantity(spec.min_quantity),
        "min_quote_amount": "0.000000",
        "supported_size_decimals": spec.size_decimals,
        "supported_price_decimals": spec.price_decimals,
        "supported_quote_decimals": USDC_DECIMALS,
        "order_quote_limit": "",
        "is_maker_fee_enabled": True,
        "is_taker_fee_enabled": True,
        "created_at": "0",
        "multiplier": "1",
        "start_timestamp": 0,
        "end_timestamp": 0,
        "settlement_type": 0,
        "settlement_price": 0,
        "settlement_cap": 0,
        "outcome": 0,
        "default_price": 0,
        "operator_account_index": 0,
        "is_frozen": False,
    }


def order_book(spec: MarketSpec) -> dict[str, Any]:
    return {**market_base(spec), "open_interest": "0"}


def order_book_detail(
    spec: MarketSpec, last_trade: int | None, mark: int | None, index: int | None
) -> dict[str, Any]:
    def px(v: int | None) -> float:
        return float(Decimal(v or 0).scaleb(-spec.price_decimals))

    imf = spec.initial_margin_ppm // 100
    return {
        **market_base(spec),
        "size_decimals": spec.size_decimals,
        "price_decimals": spec.price_decimals,
        "quote_multiplier": 1,
        "default_initial_margin_fraction": imf,
        "min_initial_margin_fraction": imf,
        "maintenance_margin_fraction": imf // 2,
        "closeout_margin_fraction": imf // 3,
        "last_trade_price": px(last_trade),
        "daily_trades_count": 0,
        "daily_base_token_volume": 0,
        "daily_quote_token_volume": 0,
        "daily_price_low": px(last_trade),
        "daily_price_high": px(last_trade),
        "daily_price_change": 0,
        "open_interest": 0,
        "daily_chart": {},
        "market_config": {
            "market_margin_mode": 0,
            "insurance_fund_account_index": 281474976710655,
            "liquidation_mode": 0,
            "force_reduce_only": False,
            "trading_hours": "",
            "hidden": False,
            "rfq_enabled": False,
        },
        "strategy_index": 0,
        "funding_clamp_small": "0",
        "funding_clamp_big": "0",
        "base_interest_rate": "0",
        "mark_price": spec.format_price(mark or 0),
        "index_price": spec.format_price(index or 0),
        "market_flags": 0,
        "funding_premium_multiplier": 0,
    }


def l1_address(account: int) -> str:
    """The simulator's stable stand-in L1 address of an account (no L1 wallet is registered)."""
    return f"0x{account:040x}"
