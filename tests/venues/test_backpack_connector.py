"""Backpack connector: the shared conformance suite against the Backpack simulator, plus Backpack-only
checks (market metadata parsing, order params, keys)."""

from __future__ import annotations

import os
from typing import Any

import orjson
import pytest

from xtb.config import VenueConfig
from xtb.keys import KeyFileError
from xtb.model.types import OrderKind, OrderRequest, Side, SubmitOutcome, TimeInForce
from xtb.model.units import scale_of, to_units
from xtb.sim.cluster import SimCluster
from xtb.sim.faults import FaultKind
from xtb.venues.backpack import BackpackConfig, BackpackConnector
from xtb.venues.backpack.markets import MarketDataError, parse_markets

from .conformance import Account, ConnectorConformance, Harness, eventually


class TestBackpackConformance(ConnectorConformance):
    venue = "backpack"
    symbol = "SOL_USDC_PERP"
    ws_conn = "backpack-ws-*"
    rest_conn = "backpack-rest"

    async def open_account(self, sim: SimCluster) -> Account:
        key, secret, account = sim.add_backpack_account(collateral_usdc=100_000)
        assert secret is not None
        return Account(key, secret, account)

    def make_connector(self, sim: SimCluster, account: Account, harness: Harness, **options: Any) -> Any:
        urls = sim.urls()["backpack"]
        cfg = BackpackConfig(rest_url=urls["rest"], ws_url=urls["ws"], symbols=(self.symbol, "BTC_USDC_PERP"),
                             backoff_initial_s=0.05, backoff_max_s=0.5, snapshot_retry_s=0.05,
                             reconcile_interval_s=options.pop("reconcile_interval_s", 5.0), **options)
        return BackpackConnector(cfg, account.api_key, account.secret, ring=harness.ring,
                                 tracker=harness.tracker, on_burst_end=harness.dispatcher.drain)

    def _market(self, sim: SimCluster, symbol: str) -> Any:
        return sim.venues["backpack"].exchange.market_by_symbol(symbol)

    def venue_top(self, sim: SimCluster, symbol: str) -> tuple[Any, Any]:
        snap = sim.venues["backpack"].exchange.book_snapshot(self._market(sim, symbol).market_id, 1)
        bid = (snap.bids[0].price, snap.bids[0].size) if snap.bids else None
        ask = (snap.asks[0].price, snap.asks[0].size) if snap.asks else None
        return bid, ask

    def venue_open_client_ids(self, sim: SimCluster, account: Account, symbol: str) -> set[int]:
        ex = sim.venues["backpack"].exchange
        return {o.client_id for o in ex.open_orders(account.account, self._market(sim, symbol).market_id)}

    def venue_position(self, sim: SimCluster, account: Account, symbol: str) -> int:
        ex = sim.venues["backpack"].exchange
        return int(ex.position(account.account, self._market(sim, symbol).market_id).size)

    def rate_limited_count(self, connector: Any) -> int:
        return int(connector.http.rest.stats.rate_limited + connector.http.orders.stats.rate_limited)

    def order_transport(self, connector: Any) -> Any:
        return connector._order_transport

    async def test_mark_price_stream_becomes_mark_events(self, sim: SimCluster, account: Account,
                                                         harness: Harness) -> None:
        """`mark_price: true` subscribes markPrice.<symbol>; the core decodes it into MarkPrice ring events (mark and
        index in the book's units, the estimated funding rate in 1e-8 = the simulator's ppm x 100)."""
        conn = await self.start_connector(sim, account, harness, mark_price=True, reconcile_interval_s=None)
        try:
            await eventually(lambda: [e for e in harness.recorder.of("mark") if e.venue == "backpack"], timeout_s=10,
                             what="Backpack MarkPrice events", pump=harness.dispatcher.drain)  # fmt: skip
            market = self._market(sim, self.symbol)
            book_id = next(e.book_id for e in harness.recorder.of("mark")
                           if conn.symbol_of_book(e.book_id) == self.symbol)  # fmt: skip
            ev = [e for e in harness.recorder.of("mark") if e.book_id == book_id][-1]
            ex = sim.venues["backpack"].exchange
            venue_mark = ex.mark_price(market.market_id)
            assert abs(ev.mark_px - venue_mark) < venue_mark // 100 and ev.index_px is not None
            assert ev.funding_rate is not None and ev.funding_rate % 100 == 0
            assert ev.next_funding_ms > ev.venue_ms > 0
            assert conn.stats.feed_errors == 0
        finally:
            await conn.close()

    async def test_reconciliation_reads_history_pages_until_it_finds_the_order(
        self, sim: SimCluster, account: Account, harness: Harness
    ) -> None:
        conn = await self.start_connector(sim, account, harness, history_limit=2, reconcile_interval_s=None,
                                          submit_window_s=0.0)
        try:
            lost = await self.resting_order(conn, harness)
            assert (await conn.submit(lost)).outcome is SubmitOutcome.ACCEPTED
            # Cancelled at the venue by someone else while our private stream misses it...
            self.add_fault(sim, kind=FaultKind.DELAY_PRIVATE, probability=1.0, duration_s=60.0, conn=self.ws_conn)
            sim.venues["backpack"].exchange.cancel_order(account.account, self._market(sim, self.symbol).market_id,
                                                         client_id=lost.client_id)
            # ...and buried under newer history: five more orders, each cancelled (two rows per page).
            for _ in range(5):
                req = await self.resting_order(conn, harness)
                assert (await conn.submit(req)).outcome is SubmitOutcome.ACCEPTED
                assert (await conn.cancel(self.symbol, req.client_id)).outcome is SubmitOutcome.ACCEPTED
            assert self.state(harness, lost.client_id) == "open"
            await conn.reconcile()
            assert self.state(harness, lost.client_id) == "cancelled"
            stats = conn.reconcile_stats
            assert (stats.settled_by_query, stats.settled_missing) == (1, 0), stats  # found on page 3
        finally:
            await conn.close()

    async def test_an_order_request_takes_one_order_slot(self, sim: SimCluster, account: Account,
                                                         harness: Harness) -> None:
        """Submit and cancel each take their slot once, where they are decided (gateway or connector),
        never again in the REST client that sends them."""
        conn = self.make_connector(sim, account, harness)
        taken: list[tuple[str, int]] = []
        real = conn.limiter

        class Counting:
            def acquire(self, key: str, weight: int = 1, now_ns: int | None = None) -> int:
                taken.append((key, weight))
                return int(real.acquire(key, weight, now_ns))

        conn.limiter = Counting()
        harness.attach(conn)
        await conn.start()
        try:
            req = await self.resting_order(conn, harness)
            before = len(taken)
            assert (await conn.submit(req)).outcome is SubmitOutcome.ACCEPTED
            assert (await conn.cancel(self.symbol, req.client_id)).outcome is SubmitOutcome.ACCEPTED
            assert [k for k in taken[before:] if k[0] == "order"] == [("order", 1), ("order", 1)]
        finally:
            await conn.close()


# ---- Backpack-only checks (no simulator) ------------------------------------------------------------

SEED = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="  # the venue notes' test seed (0x01..0x20)
PUB = "ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ="

MARKET = {
    "symbol": "kPEPE_USDC_PERP", "baseSymbol": "kPEPE", "quoteSymbol": "USDC", "marketType": "PERP",
    "filters": {"price": {"tickSize": "0.000001"}, "quantity": {"stepSize": "1", "minQuantity": "10"}},
}


def test_market_scales_and_symbol_normalisation() -> None:
    m = parse_markets([MARKET, {**MARKET, "symbol": "SOL_USDC", "marketType": "SPOT"}])
    assert list(m) == ["kPEPE_USDC_PERP"]  # only perps unless symbols are named
    pepe = m["kPEPE_USDC_PERP"]
    assert (pepe.price_decimals, pepe.size_decimals, pepe.tick, pepe.step, pepe.min_size) == (6, 0, 1, 1, 10)
    assert (pepe.base, pepe.multiplier) == ("PEPE", 1000)
    assert scale_of("0.010") == 3 and to_units("141.25", 2) == 14125
    with pytest.raises(ValueError, match="more than 2 decimals"):
        to_units("1.001", 2)
    with pytest.raises(MarketDataError, match=r"kPEPE_USDC_PERP: missing filters\.price\.tickSize"):
        parse_markets([{**MARKET, "filters": {"quantity": {"stepSize": "1"}}}])
    with pytest.raises(MarketDataError, match="unknown Backpack symbols: NOPE"):
        parse_markets([MARKET], symbols=("NOPE",))


def _connector(**cfg: object) -> BackpackConnector:
    conn = BackpackConnector(BackpackConfig(**cfg), PUB, SEED)  # type: ignore[arg-type]
    conn._markets = parse_markets([{**MARKET, "symbol": "SOL_USDC_PERP", "filters": {
        "price": {"tickSize": "0.01"}, "quantity": {"stepSize": "0.01", "minQuantity": "0.01"}}}])
    return conn


def test_order_params_and_batch_signing() -> None:
    conn = _connector()
    bid = OrderRequest(42, "SOL_USDC_PERP", Side.BID, 1200, price=14100, post_only=True)
    mkt = OrderRequest(43, "SOL_USDC_PERP", Side.ASK, 5, kind=OrderKind.MARKET)
    p = conn.prepare_submit([bid])
    assert p.path == "/api/v1/order" and p.headers["X-API-Key"] == PUB
    body = orjson.loads(p.body)
    assert body == {"clientId": 42, "orderType": "Limit", "postOnly": True, "price": "141.00",
                    "quantity": "12.00", "side": "Bid", "symbol": "SOL_USDC_PERP", "timeInForce": "GTC"}
    batch = conn.prepare_submit([bid, mkt])
    assert batch.path == "/api/v1/orders" and [o["orderType"] for o in orjson.loads(batch.body)] == ["Limit", "Market"]
    with pytest.raises(ValueError, match="tick"):
        conn.prepare_submit([OrderRequest(44, "SOL_USDC_PERP", Side.BID, 100, price=None)])
    with pytest.raises(ValueError, match="uint32"):
        conn.prepare_submit([OrderRequest(2**32, "SOL_USDC_PERP", Side.BID, 100, price=14100)])
    cancel = conn.prepare_cancel("SOL_USDC_PERP", [42, 43])
    assert [orjson.loads(b)["clientId"] for _, _, b in cancel.requests] == [42, 43]


def test_key_mismatch_and_repr_never_show_the_secret() -> None:
    with pytest.raises(ValueError, match="does not match") as err:
        BackpackConnector(BackpackConfig(), "bm90IHRoZSBrZXk=", SEED)
    assert SEED not in str(err.value)
    conn = _connector()
    assert SEED not in repr(conn) and PUB in repr(conn)


def test_key_file_readable_by_others_is_refused(tmp_path: Any) -> None:
    path = tmp_path / "backpack.key"
    path.write_text(f"api key: {PUB}\napi secret: {SEED}\n")
    os.chmod(path, 0o644)
    venue_cfg = VenueConfig(key_file=str(path), symbols=["SOL_USDC_PERP"], options={"window_ms": 3000})
    with pytest.raises(KeyFileError, match="group or others") as err:
        BackpackConnector.from_venue_config(venue_cfg)
    assert SEED not in str(err.value)
    os.chmod(path, 0o600)
    conn = BackpackConnector.from_venue_config(venue_cfg)
    assert conn.config.window_ms == 3000 and conn.config.symbols == ("SOL_USDC_PERP",)
    with pytest.raises(ValueError, match="unknown keys"):
        BackpackConnector.from_venue_config(VenueConfig(key_file=str(path), options={"nope": 1}))


@pytest.mark.parametrize("req", [
    OrderRequest(7, "SOL_USDC_PERP", Side.ASK, 1, price=1),
    OrderRequest(8, "SOL_USDC_PERP", Side.BID, 250, price=14101, tif=TimeInForce.IOC, reduce_only=True),
    OrderRequest(9, "SOL_USDC_PERP", Side.BID, 99900, price=999999, tif=TimeInForce.FOK, post_only=True),
])
def test_single_limit_fast_path_is_the_general_request(req: OrderRequest) -> None:
    """One limit order goes through the signer's one-call path; its body and signature are those of the
    general (parameter dict) path."""
    import base64

    from nacl.signing import VerifyKey

    conn = _connector()
    p = conn.prepare_submit([req])
    general = {k: v for k, v in conn._order_params(req).items() if v is not None}
    assert p.path == "/api/v1/order" and p.client_ids == (req.client_id,)
    assert orjson.loads(p.body) == general
    items = "&".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in sorted(general.items()))
    msg = f"instruction=orderExecute&{items}&timestamp={p.headers['X-Timestamp']}&window={p.headers['X-Window']}"
    VerifyKey(base64.b64decode(PUB)).verify(msg.encode(), base64.b64decode(p.headers["X-Signature"]))
    with pytest.raises(ValueError, match="tick"):
        conn.prepare_submit([OrderRequest(10, "SOL_USDC_PERP", Side.BID, 100, price=0)])
    with pytest.raises(ValueError, match="unknown symbol"):
        conn.prepare_submit([OrderRequest(10, "NOPE", Side.BID, 100, price=1)])
