"""RiskGuard rules and trading-state transitions, with a fake clock and fake market/book readers."""

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xtb.config import ConfigError
from xtb.model.types import MarketInfo, OrderKind, OrderRequest, Side
from xtb.risk import UNIT, RiskGuard, TradingState, parse_risk_config

# SOL on two venues with different size scales: Backpack 2 decimals, Lighter 3.
MARKETS = {
    ("backpack", "SOL_USDC_PERP"): MarketInfo("backpack", "SOL_USDC_PERP", "SOL", "USDC", 2, 2, 1, 1, 1, 0),
    ("lighter", "SOL"): MarketInfo("lighter", "SOL", "SOL", "USDC", 3, 3, 1, 1, 1, 0),
    ("lighter", "1000PEPE"): MarketInfo("lighter", "1000PEPE", "PEPE", "USDC", 6, 0, 1, 1, 1, 0, multiplier=1000),
}
SYM = {"backpack": "SOL_USDC_PERP", "lighter": "SOL"}
SCALE = {"backpack": 100, "lighter": 1000}


class Clock:
    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def market(venue, symbol):
    return MARKETS.get((venue, symbol))


def guard(clock=None, touch=None, working=None, **cfg):
    return RiskGuard(cfg, market=market, touch=touch, working=working, clock=clock or Clock())


_cid = iter(range(1, 10**9))


def order(venue, side, qty, *, price=None, reduce_only=False, symbol=None):
    """qty in SOL (float) -> venue units."""
    return OrderRequest(next(_cid), symbol or SYM[venue], Side(side), round(qty * SCALE[venue]),
                        OrderKind.LIMIT, price, reduce_only=reduce_only)


# --- config ------------------------------------------------------------------------------------------
def test_config_accepts_seed_camel_case_names():
    cfg = parse_risk_config({"netMax": 0.21, "singleMax": 0.06, "dailyMax": 50.0, "pnlMin": -15, "pnlMax": 100,
                             "stopLoss": -60, "haltSeconds": 300, "shockPct": 0.1, "latencyMs": 150})
    assert (cfg.net_max, cfg.single_max, cfg.daily_max, cfg.stop_loss, cfg.shock_pct) == (0.21, 0.06, 50.0, -60, 0.1)


@pytest.mark.parametrize("raw, needle", [
    ({"net_max": "lots"}, "risk.net_max"),
    ({"netMax": -1}, "risk.netMax"),
    ({"net_maxx": 1}, "risk.net_maxx: unknown key"),
    ({"pnl_min": 5, "pnl_max": 1}, "pnl_min (5.0) must be below pnl_max"),
    ({"net_max_by_asset": {"SOL": 0}}, "net_max_by_asset.SOL must be > 0"),
])
def test_config_errors_name_the_key(raw, needle):
    with pytest.raises(ConfigError, match="invalid config") as e:
        parse_risk_config(raw)
    assert needle in str(e.value)


def test_price_band_without_touch_reader_is_refused():
    with pytest.raises(ValueError, match="price_band_bps"):
        guard(price_band_bps=50)


# --- pre-trade rules ---------------------------------------------------------------------------------
def test_net_max_counts_the_order_size_and_allows_reducing():
    g = guard(net_max=0.21)
    g.on_position("backpack", "SOL_USDC_PERP", 15)  # 0.15 SOL
    assert g.check("backpack", order("backpack", "bid", 0.06)) is None  # 0.21: at the cap is fine
    assert g.check("backpack", order("backpack", "bid", 0.07)) == "net_max"
    assert g.check("backpack", order("backpack", "ask", 0.30)) is None  # -0.15: smaller |net|
    assert g.check("backpack", order("backpack", "ask", 0.37)) == "net_max"  # -0.22
    assert g.denied == {"net_max": 2} and g.allowed == 2


def test_net_is_summed_over_venues_in_canonical_units():
    g = guard(net_max=0.2)
    g.on_position("backpack", "SOL_USDC_PERP", 50)  # +0.5 SOL
    g.on_position("lighter", "SOL", -450)  # -0.45 SOL: an arbitrage, net +0.05
    assert g.net_position("SOL") == UNIT * 5 // 100
    assert g.check("lighter", order("lighter", "bid", 0.15)) is None  # net 0.20
    assert g.check("backpack", order("backpack", "bid", 0.16)) == "net_max"  # net 0.21
    assert g.status()["risk_net"] == {"SOL": 0.05}


def test_multiplier_markets_count_canonical_units():
    g = guard(net_max=1500)
    g.on_position("lighter", "1000PEPE", 1)  # 1000 PEPE
    assert g.net_position("PEPE") == 1000 * UNIT
    assert g.check("lighter", OrderRequest(2, "1000PEPE", Side.BID, 1, price=1)) == "net_max"  # 2000 PEPE
    assert g.check("lighter", OrderRequest(3, "1000PEPE", Side.ASK, 2, price=1)) is None  # -1000 PEPE


@pytest.mark.parametrize("size", [0, -5])
def test_non_positive_size_is_denied(size):
    assert guard().check("lighter", OrderRequest(1, "SOL", Side.BID, size)) == "bad_size"


def test_per_asset_net_cap_overrides_the_default():
    g = guard(net_max=10, net_max_by_asset={"SOL": 0.1})
    assert g.check("lighter", order("lighter", "bid", 0.11)) == "net_max"
    assert g.check("lighter", order("lighter", "bid", 0.1)) is None


def test_venue_gross_cap_limits_each_leg_even_when_net_is_flat():
    g = guard(net_max=1, venue_gross_max=0.5)
    g.on_position("backpack", "SOL_USDC_PERP", 50)
    g.on_position("lighter", "SOL", -500)
    assert g.check("backpack", order("backpack", "bid", 0.01)) == "venue_gross_max"
    assert g.check("lighter", order("lighter", "bid", 0.2)) is None  # shrinks the lighter leg


def test_reduce_only_that_reduces_exposure_passes_the_caps():
    g = guard(net_max=0.1, venue_gross_max=0.1, daily_max=0.01)
    g.on_position("backpack", "SOL_USDC_PERP", 50)  # already over every cap
    assert g.check("backpack", order("backpack", "ask", 0.2, reduce_only=True)) is None
    # reduce-only but growing |net| (the venue position is short): capped like any order
    g.on_position("lighter", "SOL", -100)
    assert g.check("lighter", order("lighter", "ask", 0.05, reduce_only=True)) == "venue_gross_max"


def test_limits_change_on_a_running_guard_all_or_nothing():
    from xtb.config import ConfigError

    g = guard(single_max=0.06)
    assert g.check("backpack", order("backpack", "bid", 0.07)) == "single_max"
    g.update_limits({"single_max": 0.1})
    assert g.check("backpack", order("backpack", "bid", 0.07)) is None
    g.update_limits({"single_max": None})  # the rule is off
    assert g.check("backpack", order("backpack", "bid", 5)) is None
    with pytest.raises(ConfigError, match=r"risk\.shock_pct: cannot change while running"):
        g.update_limits({"shock_pct": 0.1})
    with pytest.raises(ConfigError, match=r"risk\.max_notional: Input should be greater than 0"):
        g.update_limits({"single_max": 0.5, "daily_max": 1, "max_notional": -1})
    assert g.config.single_max is None and g.config.daily_max is None  # nothing half-applied


def test_single_max():
    g = guard(single_max=0.06)
    assert g.check("backpack", order("backpack", "bid", 0.07)) == "single_max"
    assert g.check("backpack", order("backpack", "bid", 0.06)) is None


def test_daily_budget_resets_at_utc_midnight():
    clock = Clock(1_700_006_400.0 - 10)  # 10 s before a UTC midnight (1_700_006_400 % 86400 == 0)
    g = guard(clock, daily_max=0.2)
    assert g.check("backpack", order("backpack", "bid", 0.15)) is None
    assert g.check("backpack", order("backpack", "ask", 0.1)) == "daily_max"  # both sides count
    clock.t += 11
    assert g.check("backpack", order("backpack", "ask", 0.1)) is None
    assert g.status()["risk_sent_today"] == {"SOL": 0.1}


def test_price_band_against_the_touch():
    book = {"bid": (10_000, 5), "ask": (10_010, 5)}
    g = guard(touch=lambda v, s: (book["bid"], book["ask"]), price_band_bps=50)  # 0.5 %
    assert g.check("backpack", order("backpack", "bid", 0.01, price=10_060)) is None  # ask * 1.005 = 10060.05
    assert g.check("backpack", order("backpack", "bid", 0.01, price=10_061)) == "price_band"
    assert g.check("backpack", order("backpack", "ask", 0.01, price=9_950)) is None
    assert g.check("backpack", order("backpack", "ask", 0.01, price=9_949)) == "price_band"
    book["ask"] = None
    assert g.check("backpack", order("backpack", "bid", 0.01, price=9_000)) == "no_touch"
    assert g.check("backpack", order("backpack", "bid", 0.01)) is None  # no price: nothing to compare


def test_price_band_can_allow_an_empty_book_side():
    g = guard(touch=lambda v, s: (None, None), price_band_bps=50, deny_without_touch=False)
    assert g.check("backpack", order("backpack", "bid", 0.01, price=9_000)) is None


def test_notional_bounds():
    g = guard(min_notional=10, max_notional=1000)
    # backpack: price 2 dp, size 2 dp -> notional units 1e-4 USDC; 150.00 x 0.05 = 7.5 USDC
    assert g.check("backpack", order("backpack", "bid", 0.05, price=15_000)) == "notional_min"
    assert g.check("backpack", order("backpack", "bid", 0.05, price=15_000, reduce_only=True)) is None
    assert g.check("backpack", order("backpack", "bid", 0.10, price=15_000)) is None  # 15 USDC
    assert g.check("backpack", order("backpack", "bid", 7.0, price=15_000)) == "notional_max"  # 1050


def test_order_rate_throttle_slides():
    clock = Clock()
    g = guard(clock, max_orders=2, rate_window_s=1.0)
    assert g.check("lighter", order("lighter", "bid", 0.01)) is None
    clock.t += 0.5
    assert g.check("lighter", order("lighter", "bid", 0.01)) is None
    assert g.check("lighter", order("lighter", "bid", 0.01)) == "order_rate"
    clock.t += 0.6  # the first left the window
    assert g.check("lighter", order("lighter", "bid", 0.01)) is None


def test_refresh_markets_rereads_them_and_keeps_positions():
    infos = dict(MARKETS)
    g = RiskGuard({"net_max": 1}, market=lambda v, s: infos.get((v, s)), clock=Clock())
    g.on_position("lighter", "SOL", 500)  # 0.5 SOL at 3 size decimals
    infos[("lighter", "SOL")] = MarketInfo("lighter", "SOL", "SOL", "USDC", 3, 2, 1, 1, 1, 0)  # now 2 decimals
    g.refresh_markets()
    assert g.net_position("SOL") == 5 * UNIT  # 500 units at 2 decimals


def test_unknown_market_is_denied():
    g = guard()
    assert g.check("lighter", OrderRequest(1, "DOGE", Side.BID, 1)) == "unknown_market"


@dataclass
class Working:
    client_id: int
    venue: str
    symbol: str
    side: str
    remaining: int
    reduce_only: bool = False


def test_working_orders_count_toward_the_caps():
    live = [Working(1, "lighter", "SOL", "bid", 150), Working(2, "backpack", "SOL_USDC_PERP", "ask", 5)]
    g = guard(net_max=0.2, working=lambda: live)
    assert g.check("backpack", order("backpack", "bid", 0.06)) == "net_max"  # 0.15 resting + 0.06
    allowed = order("backpack", "bid", 0.05)
    assert g.check("backpack", allowed) is None
    live.append(Working(allowed.client_id, "backpack", "SOL_USDC_PERP", "bid", 5))  # tracked: counted once
    assert g.check("backpack", order("backpack", "bid", 0.01)) == "net_max"
    assert g.check("backpack", order("backpack", "ask", 0.15)) is None  # -0.05 resting - 0.15
    assert g.check("backpack", order("backpack", "ask", 0.16)) == "net_max"  # -0.05 - 0.16 = -0.21


def test_reduce_only_exemption_counts_resting_orders_on_its_side():
    live = [Working(1, "lighter", "SOL", "ask", 100)]  # -0.1 SOL resting
    g = guard(net_max=0.25, working=lambda: live)
    g.on_position("backpack", "SOL_USDC_PERP", 40)
    g.on_position("lighter", "SOL", -200)  # net +0.2
    # closes 0.4 on backpack: net -0.2 now, -0.3 once the resting ask fills
    assert g.check("backpack", order("backpack", "ask", 0.4, reduce_only=True)) == "net_max"
    assert g.check("backpack", order("backpack", "ask", 0.35, reduce_only=True)) is None  # worst -0.25


def test_resting_reduce_only_orders_count_on_their_side():
    live: list[Working] = []
    g = guard(net_max=0.25, working=lambda: live)
    g.on_position("backpack", "SOL_USDC_PERP", 40)
    g.on_position("lighter", "SOL", -200)  # net +0.2
    close = order("backpack", "ask", 0.4, reduce_only=True)
    assert g.check("backpack", close) is None  # net -0.2 once filled
    live.append(Working(close.client_id, "backpack", "SOL_USDC_PERP", "ask", 40, reduce_only=True))
    assert g.check("lighter", order("lighter", "ask", 0.1)) == "net_max"  # -0.3 if both fill
    assert g.check("lighter", order("lighter", "ask", 0.05)) is None


def test_orders_of_one_batch_count_against_each_other_until_tracked():
    clock = Clock()
    tracked: list[Working] = []
    g = guard(clock, net_max=0.2, working=lambda: tracked)
    batch = [order("lighter", "bid", 0.1), order("lighter", "bid", 0.1), order("lighter", "bid", 0.1)]
    assert [g.check("lighter", r) for r in batch] == [None, None, "net_max"]
    clock.t += 0.3  # the batch was refused elsewhere and never tracked: the pending exposure lapses
    assert g.check("lighter", order("lighter", "bid", 0.2)) is None


async def test_pending_batch_exposure_ends_with_the_event_loop_iteration():
    import asyncio

    g = guard(net_max=0.2, working=lambda: [])
    assert g.check("lighter", order("lighter", "bid", 0.15)) is None
    assert g.check("lighter", order("lighter", "bid", 0.1)) == "net_max"  # same stack: counts the first
    await asyncio.sleep(0)  # the batch was refused elsewhere (never tracked) and the stack unwound
    assert g.check("lighter", order("lighter", "bid", 0.1)) is None


# --- trading state -----------------------------------------------------------------------------------
def test_reducing_state_lets_only_reduce_only_orders_through():
    g = guard()
    g.on_position("backpack", "SOL_USDC_PERP", 10)
    g.set_state("reducing", "drawdown")
    assert g.check("backpack", order("backpack", "bid", 0.01)) == "reducing_only"
    assert g.check("backpack", order("backpack", "ask", 0.05, reduce_only=True)) is None
    assert g.status()["risk_state"] == "reducing" and g.status()["risk_reason"] == "drawdown"


def test_operator_halt_latches_and_resume_lifts_it():
    clock = Clock()
    g = guard(clock, halt_seconds=10)
    clock.t += 5
    g.set_state("halted", "maintenance")
    st = g.status()
    assert (st["risk_state"], st["risk_reason"], st["risk_since"], st["risk_until"]) == (
        "halted", "maintenance", clock.t, None)
    clock.t += 10_000
    assert g.check("backpack", order("backpack", "ask", 0.01, reduce_only=True)) == "halted"
    g.set_state(TradingState.ACTIVE, "resume")
    assert g.check("backpack", order("backpack", "ask", 0.01)) is None


def test_timed_operator_state_lifts_by_itself():
    clock = Clock()
    g = guard(clock)
    g.set_state("halted", "pause", for_s=3)
    clock.t += 2.9
    assert g.state is TradingState.HALTED
    clock.t += 0.2
    assert g.state is TradingState.ACTIVE
    with pytest.raises(ValueError):
        g.set_state("halted", "x", for_s=0)
    with pytest.raises(ValueError):
        g.set_state("paused", "x")


def test_pnl_band_halts_for_halt_seconds_then_lifts():
    clock = Clock()
    g = guard(clock, pnl_min=-15, pnl_max=100, halt_seconds=300)
    g.on_pnl(-5, -9)
    assert g.state is TradingState.ACTIVE
    g.on_pnl(-5, -11)
    assert g.state is TradingState.HALTED and g.status()["risk_reason"].startswith("pnl_min")
    assert g.status()["risk_until"] == clock.t + 300
    clock.t += 299
    assert g.check("lighter", order("lighter", "bid", 0.01)) == "halted"
    clock.t += 1
    assert g.check("lighter", order("lighter", "bid", 0.01)) is None
    g.on_pnl(101, 0)
    assert g.state is TradingState.HALTED and g.status()["risk_reason"].startswith("pnl_max")


def test_stop_loss_latches_past_the_cooldown_and_outranks_a_timed_halt():
    clock = Clock()
    g = guard(clock, pnl_min=-15, stop_loss=-60, halt_seconds=300)
    g.on_pnl(-20, 0)
    g.on_pnl(-50, -10)
    assert g.status()["risk_reason"].startswith("stop_loss") and g.status()["risk_until"] is None
    g.on_pnl(-20, 0)  # a milder rule does not shorten the latch
    clock.t += 10_000
    assert g.state is TradingState.HALTED
    g.set_state("active", "operator reviewed")
    assert g.state is TradingState.ACTIVE


def test_shock_halts_and_cools_down():
    clock = Clock()
    g = guard(clock, shock_pct=0.10, shock_window_s=60, halt_seconds=30)
    g.on_price("SOL", 100.0, clock.t)
    g.on_price("SOL", 109.0, clock.t + 10)
    assert g.state is TradingState.ACTIVE
    g.on_price("SOL", 95.0, clock.t + 20)  # 109 -> 95: -12.8 %
    assert g.state is TradingState.HALTED and "shock: SOL" in g.status()["risk_reason"]
    clock.t += 20 + 30
    assert g.state is TradingState.ACTIVE


def test_shock_window_forgets_old_prices():
    clock = Clock()
    g = guard(clock, shock_pct=0.10, shock_window_s=60)
    g.on_price("SOL", 100.0, 0)
    g.on_price("SOL", 105.0, 50)
    g.on_price("SOL", 112.0, 70)  # 100 left the window: 105 -> 112 is 6.7 %
    assert g.state is TradingState.ACTIVE
    with pytest.raises(ValueError, match="price of SOL"):
        g.on_price("SOL", 0.0, 80)


def test_mark_to_market_values_positions_at_the_mid_and_feeds_the_bands():
    books = {"SOL_USDC_PERP": ((13_990, 1), (14_010, 1)), "SOL": (None, (140_000, 1))}
    seen = []
    g = RiskGuard({"drawdownBands": [3], "reduceFractions": [0.5], "reduceCooldownSeconds": 0},
                  market=market, touch=lambda v, s: books[s], clock=Clock(), on_reduce=seen.append)
    g.on_position("backpack", "SOL_USDC_PERP", 50, 15_000)  # long 0.5 from 150.00, mid 140.00: -5.0
    g.on_position("lighter", "SOL", -200, 145_000)  # short 0.2 from 145.000, only an ask at 140.000: +1.0
    assert g.mark_to_market() == pytest.approx(-4.0)
    assert g.pnl == (0.0, pytest.approx(-4.0)) and [r.band for r in seen] == [0]
    books["SOL"] = (None, None)
    assert g.mark_to_market() is None  # a position without a price: nothing fed
    g.on_position("lighter", "SOL", 0)
    g.on_position("backpack", "SOL_USDC_PERP", 10)  # entry kept from before
    assert g.mark_to_market() == pytest.approx(-1.0)
    g.on_position("lighter", "1000PEPE", 3)  # no entry price known: cannot be valued
    assert g.unrealized_pnl() is None


def test_latency_warnings_count_only_above_threshold():
    g = guard(latency_ms=150)
    for ms in (10, 150, 151, 400):
        g.on_latency_ms(ms)
    assert g.status()["risk_latency_warnings"] == 2
    assert g.state is TradingState.ACTIVE


# --- property: the net cap holds -------------------------------------------------------------------
orders_st = st.lists(
    st.tuples(st.sampled_from(["backpack", "lighter"]), st.sampled_from(["bid", "ask"]),
              st.integers(min_value=1, max_value=400), st.booleans()),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(orders=orders_st, cap_milli=st.integers(min_value=1, max_value=500))
def test_no_order_sequence_gets_net_past_net_max(orders, cap_milli):
    g = guard(net_max=cap_milli / 1000)
    cap = cap_milli * UNIT // 1000
    pos = {"backpack": 0, "lighter": 0}
    for venue, side, qty_milli, reduce_only in orders:
        size = qty_milli // 10 if venue == "backpack" else qty_milli
        if size == 0:
            continue
        req = OrderRequest(1, SYM[venue], Side(side), size, reduce_only=reduce_only)
        if g.check(venue, req) is None:
            pos[venue] += size if side == "bid" else -size  # filled as soon as accepted
            g.on_position(venue, SYM[venue], pos[venue])
        assert abs(g.net_position("SOL")) <= cap


# --- the book feed for shock detection ---------------------------------------------------------------
@dataclass
class BookEv:
    venue: str
    book_id: int


def test_price_feed_turns_books_into_canonical_mids_and_halts_on_a_shock():
    from xtb.risk.feed import RiskPriceFeed

    clock = Clock()
    g = guard(clock, shock_pct=0.05, shock_window_s=10)
    book = {("lighter", "1000PEPE"): ((9_000, 1), (11_000, 1)), ("lighter", "SOL"): (None, (15_000, 1))}
    seen = []
    g_on_price = g.on_price

    def spy(asset, px, now=None):
        seen.append((asset, px))
        g_on_price(asset, px, now)

    g.on_price = spy
    names = {1: "1000PEPE", 2: "SOL", 3: "GONE"}
    feed = RiskPriceFeed(g, symbol_of=lambda v, b: names.get(b), market=market, touch=lambda v, s: book[(v, s)])
    feed.on_book(BookEv("lighter", 1))
    feed.on_book(BookEv("lighter", 2))  # one-sided book: no mid
    feed.on_book(BookEv("lighter", 3))  # no market info: ignored
    assert seen == [("PEPE", pytest.approx(0.01 / 1000))]
    book[("lighter", "1000PEPE")] = ((10_000, 1), (10_800, 1))  # mid 10000 -> 10400: +4 %
    feed.on_book(BookEv("lighter", 1))
    assert g.state is TradingState.ACTIVE
    book[("lighter", "1000PEPE")] = ((10_200, 1), (11_000, 1))  # 10600: +6 %
    feed.on_book(BookEv("lighter", 1))
    assert g.state is TradingState.HALTED


actions_st = st.lists(
    st.one_of(
        st.tuples(st.just("order"), st.sampled_from(["backpack", "lighter"]), st.sampled_from(["bid", "ask"]),
                  st.integers(min_value=1, max_value=400), st.booleans()),
        st.tuples(st.just("fill"), st.integers(min_value=0, max_value=50)),
        st.tuples(st.just("cancel"), st.integers(min_value=0, max_value=50)),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(actions=actions_st, cap_milli=st.integers(min_value=1, max_value=500))
def test_resting_orders_filling_in_any_order_never_get_net_past_net_max(actions, cap_milli):
    """Accepted orders rest; any of them may fill (or be cancelled) later, in any order."""
    clock = Clock()
    live: list[Working] = []
    g = guard(clock, net_max=cap_milli / 1000, working=lambda: list(live))
    cap = cap_milli * UNIT // 1000
    pos = {"backpack": 0, "lighter": 0}
    cid = 0
    for action in actions:
        clock.t += 0.01
        if action[0] == "order":
            _, venue, side, qty_milli, reduce_only = action
            size = qty_milli // 10 if venue == "backpack" else qty_milli
            if size == 0:
                continue
            if reduce_only:  # the venue caps a reduce-only order at the position it closes
                closing = -pos[venue] if side == "bid" else pos[venue]
                size = min(size, max(closing, 0))
                if size == 0:
                    continue
            cid += 1
            req = OrderRequest(cid, SYM[venue], Side(side), size, reduce_only=reduce_only)
            if g.check(venue, req) is None:
                live.append(Working(cid, venue, SYM[venue], side, size, reduce_only))
        elif live:
            o = live.pop(action[1] % len(live))
            if action[0] == "fill":
                size = o.remaining
                if o.reduce_only:  # never past flat
                    size = min(size, abs(pos[o.venue])) if (pos[o.venue] > 0) == (o.side == "ask") else 0
                pos[o.venue] += size if o.side == "bid" else -size
                g.on_position(o.venue, SYM[o.venue], pos[o.venue])
        assert abs(g.net_position("SOL")) <= cap, (pos, live)
