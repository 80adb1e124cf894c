"""Replay's intensity fill model (xtb/journal/fills.py, `replay(..., fills=)`, `xtb replay --fills intensity`) and
the synthetic journal generator (xtb/journal/synth.py, `xtb journal synth`)."""

from __future__ import annotations

import itertools
import json
import math
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from xtb.cli import app
from xtb.core import BookUpdate, EventRing, JournalReader, JournalWindows
from xtb.journal.fills import FillIntensity
from xtb.journal.replay import ReplayVenue, load_markets
from xtb.journal.synth import MidWalk, SynthError, write_synthetic_journal
from xtb.model.types import MarketInfo
from xtb.sim.clock import VirtualClock
from xtb.sim.types import FillEvent
from xtb.sim.types import OrderRequest as SimOrder
from xtb.sim.types import Side as SimSide

MARKET = MarketInfo(venue="backpack", symbol="SYN_USDC_PERP", base="SYN", quote="USD", price_decimals=2,
                    size_decimals=2, tick=1, step=1, min_size=1, min_notional=0)
DT_NS = 5_000_000  # 5 ms between book updates
A, K = 140.0, 1.5


def venue(fills: FillIntensity | None) -> tuple[ReplayVenue, list[Any]]:
    """A replay venue with one market, and the list our fills land in (price, quantity, side)."""
    v = ReplayVenue("backpack", {0: MARKET}, None, EventRing(1 << 16), VirtualClock(0), fills=fills)
    got: list[Any] = []
    v.exchange.subscribe(lambda ev: got.append(ev.fill) if isinstance(ev, FillEvent)
                         and ev.fill.account == v.account else None)
    return v, got


def rest(v: ReplayVenue, side: SimSide, px: int, qty: int = 100) -> int:
    return v.exchange.place_order(SimOrder(account=v.account, market=0, side=side, quantity=qty, price=px,
                                           post_only=True)).order_id


def book(mid_units: int, i: int) -> BookUpdate:
    return BookUpdate("backpack", 0, (mid_units - 1, 1000), (mid_units + 1, 1000), book_seq=i,
                      recv_ns=10**9 + i * DT_NS)


def test_fill_rate_per_step_is_a_exp_minus_k_delta_dt_against_the_steps_mid() -> None:
    """Resting bid and ask at fixed prices; the recorded mid jumps between 100.00 and 100.50 at random. Per step,
    each order must fill with probability A*exp(-k*delta)*dt, delta measured from the mid *in force during the
    step* (the previous update's). Counted per class of that mid, so using the new update's mid, distances in
    venue units, the wrong side's sign or dt in ms would all be far outside the bounds (4.5 standard errors)."""
    v, got = venue(FillIntensity(A, K, seed=11))
    mids = [10_000, 10_050]  # 100.00, 100.50
    bid_px, ask_px = 9_980, 10_120  # bid 0.20 / 0.70 below the mid, ask 1.20 / 0.70 above
    rng = random.Random(5)
    path = [rng.choice(mids) for _ in range(8001)]
    steps: dict[tuple[str, int], int] = {}
    fills: dict[tuple[str, int], int] = {}
    bid_id, ask_id = rest(v, SimSide.BUY, bid_px), rest(v, SimSide.SELL, ask_px)
    v.on_book(book(path[0], 0))
    for i in range(1, len(path)):
        before = len(got)
        v.on_book(book(path[i], i))
        step_mid = path[i - 1]
        for side in ("bid", "ask"):
            steps[side, step_mid] = steps.get((side, step_mid), 0) + 1
        for f in got[before:]:
            side = "bid" if f.side is SimSide.BUY else "ask"
            fills[side, step_mid] = fills.get((side, step_mid), 0) + 1
            assert f.price == (bid_px if side == "bid" else ask_px) and f.is_maker  # at the order's own price
            assert f.quantity == 100  # the whole order
        open_ids = {o.order_id for o in v.exchange.open_orders(v.account, 0)}
        if bid_id not in open_ids:
            bid_id = rest(v, SimSide.BUY, bid_px)
        if ask_id not in open_ids:
            ask_id = rest(v, SimSide.SELL, ask_px)
    for (side, mid), n in steps.items():
        delta = ((mid - bid_px) if side == "bid" else (ask_px - mid)) / 100
        p = A * math.exp(-K * delta) * DT_NS / 1e9
        rate = fills.get((side, mid), 0) / n
        se = math.sqrt(p * (1 - p) / n)
        assert abs(rate - p) < 4.5 * se, (side, mid, n, rate, p)


def test_the_arriving_order_fills_best_prices_first_up_to_the_size_cap() -> None:
    v, got = venue(FillIntensity(1e9, K, size=Decimal("1.5")))  # p = 1 at any distance: every step reaches all
    rest(v, SimSide.BUY, 9_990)
    rest(v, SimSide.BUY, 9_950)
    v.on_book(book(10_000, 0))
    v.on_book(book(10_000, 1))
    assert [(f.price, f.quantity) for f in got] == [(9_990, 100), (9_950, 50)]  # 1.5 base units: best first
    assert [(o.price, o.remaining) for o in v.exchange.open_orders(v.account, 0)] == [(9_950, 50)]


def test_with_intensity_fills_the_recorded_touch_never_fills_a_resting_order() -> None:
    """The recorded ask falls through our bid: the tape fills it, a (near-zero) intensity does not."""
    for fills, filled in ((None, True), (FillIntensity(1e-12, K), False)):
        v, got = venue(fills)
        v.on_book(book(10_000, 0))
        rest(v, SimSide.BUY, 9_990)
        v.on_book(book(9_900, 1))  # ask 98.01: through our 99.90 bid
        v.on_book(book(9_900, 2))
        assert bool(got) is filled, fills


@settings(max_examples=200, deadline=None)
@given(a=st.floats(1e-3, 1e4), k=st.floats(0, 50), d=st.floats(-5, 50), dd=st.floats(0, 10), dt=st.floats(0, 1))
def test_probability_is_the_model_capped_at_one_and_falls_with_distance(a: float, k: float, d: float, dd: float,
                                                                        dt: float) -> None:
    m = FillIntensity(a, k)
    p = m.probability(d, dt)
    assert 0.0 <= p <= 1.0
    assert m.probability(d + dd, dt) <= p
    if a * dt * math.exp(-k * d) < 1:
        assert p == pytest.approx(a * dt * math.exp(-k * d))


def test_fill_model_and_queue_model_do_not_mix_and_bad_params_name_the_field() -> None:
    with pytest.raises(ValueError, match="queue"):
        ReplayVenue("backpack", {0: MARKET}, None, EventRing(16), VirtualClock(0), queue="risk_averse",
                    fills=FillIntensity(A, K))
    for kwargs, field in (({"a": 0.0, "k": K}, "fill_a"), ({"a": A, "k": -1.0}, "fill_k"),
                          ({"a": A, "k": K, "size": Decimal(0)}, "fill_size")):
        with pytest.raises(ValueError, match=f"^{field}: "):
            FillIntensity(**kwargs)  # type: ignore[arg-type]


# --- the synthetic journal ----------------------------------------------------------------------------------
def test_synthetic_journal_is_a_real_journal_of_the_walk(tmp_path: Path) -> None:
    walk = MidWalk(s0=100, sigma=2, dt_s=0.005, horizon_s=1, tick=Decimal("0.0001"), seed=3)
    res = write_synthetic_journal(tmp_path / "e.journal", walk, start_ns=10**12)
    events = list(JournalReader(res.path))
    assert res.events == len(events) == 201 and all(e.kind == "book" for e in events)
    assert [e.recv_ns for e in events] == [10**12 + i * 5_000_000 for i in range(201)]
    mids = list(walk.mids())
    step = 2 * math.sqrt(0.005)
    assert all(abs(abs(b - a) - step) < 1e-9 for a, b in itertools.pairwise(mids))  # binomial +/- steps
    for e, mid in zip(events, mids, strict=True):  # the touch: the mid rounded down to the tick, one tick wide
        (bid, _), (ask, size) = e.best_bid, e.best_ask
        assert bid == math.floor(mid * 10_000) and ask == bid + 1 and size == 10_000
    assert json.loads(JournalReader(res.path).meta)["synthetic"]["seed"] == 3
    assert load_markets(res.path) == {"backpack": {0: res.market}}
    # the replay's reader takes it as any run's journal: one update per 1 ms window
    windows = JournalWindows(res.path, 1_000_000).next_windows(10_000)
    assert len(windows) == 201
    again = write_synthetic_journal(tmp_path / "f.journal", walk, start_ns=10**12)
    assert [(e.best_bid, e.best_ask, e.recv_ns) for e in JournalReader(again.path)] == \
        [(e.best_bid, e.best_ask, e.recv_ns) for e in events]  # same seed, same journal


def test_gaussian_walk_has_the_stated_volatility() -> None:
    walk = MidWalk(s0=1000, sigma=3, dt_s=0.01, horizon_s=200, walk="gaussian", seed=1)  # 20000 steps
    mids = list(walk.mids())
    var = sum((b - a) ** 2 for a, b in itertools.pairwise(mids)) / (len(mids) - 1) / 0.01
    assert abs(math.sqrt(var) - 3) < 0.05  # sigma_hat's standard error here: 3 / sqrt(2 * 20000) = 0.015


@pytest.mark.parametrize(("kwargs", "param"), [
    ({"sigma": -1.0}, "sigma"), ({"dt_s": 0.003}, "horizon_s"), ({"tick": Decimal(0)}, "tick"),
    ({"walk": "levy"}, "walk"), ({"s0": float("nan")}, "s0"), ({"dt_s": 1e-12}, "dt_s"),
])
def test_bad_walk_params_name_the_param(kwargs: dict[str, Any], param: str) -> None:
    with pytest.raises(SynthError) as e:
        MidWalk(**kwargs)
    assert e.value.param == param


def test_a_walk_below_zero_leaves_no_journal(tmp_path: Path) -> None:
    with pytest.raises(SynthError, match="s0: the mid fell"):
        write_synthetic_journal(tmp_path / "e.journal", MidWalk(s0=1, sigma=10, horizon_s=100))
    assert not list(tmp_path.iterdir())


# --- the CLI ----------------------------------------------------------------------------------------------------
CONFIG = Path(__file__).resolve().parents[2] / "configs" / "avellaneda_table1.yaml"


def test_cli_synth_then_replay_with_intensity_fills(tmp_path: Path) -> None:
    runner = CliRunner()
    journal = tmp_path / "syn" / "events.journal"
    journal.parent.mkdir()
    res = runner.invoke(app, ["journal", "synth", str(journal), "--seed", "4"])
    assert res.exit_code == 0, res.output
    assert "wrote 201 book updates" in res.output
    cfg = CONFIG  # the documented Table 1 setup
    out = tmp_path / "r"
    res = runner.invoke(app, ["replay", str(journal), "--config", str(cfg), "--out", str(out), "--no-progress",
                              "--fills", "intensity", "--fill-a", "140", "--fill-k", "1.5", "--fill-seed", "4"])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "replay.json").read_text())
    assert summary["fills"] > 20 and summary["book_events"] == 201  # ~90 fills expected
    assert summary["fill_model"] == {"model": "intensity", "a": 140.0, "k": 1.5, "seed": 4, "size": None}
    # the tape alone never reaches quotes ~0.75 from the mid on this walk (steps of 0.14)
    res = runner.invoke(app, ["replay", str(journal), "--config", str(cfg), "--out", str(tmp_path / "t"),
                              "--no-progress"])
    assert res.exit_code == 0, res.output
    tape = json.loads((tmp_path / "t" / "replay.json").read_text())
    assert tape["fills"] == 0 and tape["fill_model"] == {"model": "tape", "queue": "none"}


@pytest.mark.parametrize(("args", "message"), [
    (["--fills", "poisson"], "--fills: expected one of tape, intensity"),
    (["--fill-a", "140"], "--fill-a: only with --fills intensity"),
    (["--fills", "intensity", "--fill-a", "140"], "--fill-k: required with --fills intensity"),
    (["--fills", "intensity", "--fill-a", "-1", "--fill-k", "1.5"], "--fill-a: must be"),
    (["--fills", "intensity", "--fill-a", "1", "--fill-k", "1.5", "--fill-size", "x"], "--fill-size: not a decimal"),
    (["--fills", "intensity", "--fill-a", "1", "--fill-k", "1.5", "--queue", "risk_averse"], "--queue: the queue"),
])
def test_cli_bad_fill_options_are_one_line_errors(tmp_path: Path, args: list[str], message: str) -> None:
    journal = tmp_path / "events.journal"
    write_synthetic_journal(journal, MidWalk(horizon_s=0.05))
    res = CliRunner().invoke(app, ["replay", str(journal), "--strategy", "avellaneda", "--no-progress", *args])
    assert res.exit_code == 2
    assert message in res.output and len(res.output.strip().splitlines()) == 1, res.output


@pytest.mark.parametrize(("args", "message"), [
    (["--sigma", "-2"], "--sigma: must be"), (["--dt-s", "0.003"], "--horizon-s: must be a whole number"),
    (["--tick", "abc"], "--tick: not a decimal"), (["--venue", "nope"], "--venue: unknown venue"),
    (["--spread-ticks", "0"], "--spread-ticks: must be >= 1"),
])
def test_cli_synth_bad_options_are_one_line_errors(tmp_path: Path, args: list[str], message: str) -> None:
    res = CliRunner().invoke(app, ["journal", "synth", str(tmp_path / "e.journal"), *args])
    assert res.exit_code == 2
    assert message in res.output and len(res.output.strip().splitlines()) == 1, res.output
    assert not (tmp_path / "e.journal").exists()


# --- sweeps ------------------------------------------------------------------------------------------------------
def test_sweep_jobs_carry_the_fill_model_one_seed_per_journal(tmp_path: Path) -> None:
    """Journal i draws with seed + i (independent paths); every param combination on a journal shares its draws;
    a job gives what `replay` gives with that seed."""
    import asyncio

    from xtb.config import load_config
    from xtb.journal.replay import replay
    from xtb.journal.sweep import jobs_for, run_job

    cfg = load_config(CONFIG, env={})
    journals = [write_synthetic_journal(tmp_path / f"{i}.journal", MidWalk(horizon_s=0.5, seed=i)).path
                for i in range(2)]
    jobs = jobs_for(cfg, {"gamma": [0.1, 0.5]}, journals, fills=FillIntensity(A, K, seed=10))
    assert [(j["params"]["gamma"], j["journal"], j["fills"]["seed"]) for j in jobs] == [
        (0.1, str(journals[0]), 10), (0.1, str(journals[1]), 11), (0.5, str(journals[0]), 10),
        (0.5, str(journals[1]), 11)]
    row = run_job(jobs[1])
    assert row["error"] is None and row["fills"] > 0
    direct = asyncio.run(replay(journals[1], cfg, fills=FillIntensity(A, K, seed=11)))
    assert (row["pnl"], row["fills"]) == (round(direct.pnl, 10), direct.fills)


def test_cli_sweep_bad_fill_options_are_one_line_errors(tmp_path: Path) -> None:
    journal = tmp_path / "events.journal"
    write_synthetic_journal(journal, MidWalk(horizon_s=0.05))
    (tmp_path / "g.yaml").write_text("gamma: [0.1, 0.2]\n")
    res = CliRunner().invoke(app, ["sweep", str(CONFIG), str(journal), "--grid", str(tmp_path / "g.yaml"),
                                   "--no-progress", "--fills", "intensity", "--fill-a", "140"])
    assert res.exit_code == 2
    assert res.output.strip() == "--fill-k: required with --fills intensity"
