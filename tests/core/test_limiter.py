"""RateLimiter and the venue presets (docs/core_api.md, "Rate limiter")."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xtb._core import EventRing, RateLimited, RateLimiter
from xtb.venues.backpack import ratelimits as backpack_ratelimits
from xtb.venues.lighter import ratelimits

SEC = 1_000_000_000
T0 = 10 * SEC


def lighter_like() -> RateLimiter:
    return RateLimiter.from_config(
        {
            "pools": {
                "rest": {"type": "sliding_window", "limit": 24, "window_ms": 60_000},
                "tx": {"type": "token_bucket", "capacity": 2, "refill": 2, "window_ms": 60_000},
            },
            "keys": {"sendTx": {"rest": 6, "tx": 1}, "account": {"rest": 12}},
        }
    )


# ---- from_config ----


def test_from_config_lists_keys_and_pools() -> None:
    lim = lighter_like()
    assert sorted(lim.keys) == ["account", "sendTx"]
    assert sorted(lim.pools) == ["rest", "tx"]
    assert repr(lim) == "RateLimiter(pools=2, keys=2)"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ([], "config: must be a dict"),
        ({"pools": {}}, "config.keys: missing"),
        ({"pools": {}, "keys": {}, "extra": 1}, "config.extra: unknown field"),
        ({"pools": {"p": {"type": "leaky"}}, "keys": {}}, "pools.p.type: must be"),
        ({"pools": {"p": {"type": "sliding_window", "limit": 5}}, "keys": {}}, "pools.p.window_ms: missing"),
        (
            {"pools": {"p": {"type": "sliding_window", "limit": 0, "window_ms": 1}}, "keys": {}},
            "pools.p.limit: must be a positive integer, got 0",
        ),
        (
            {"pools": {"p": {"type": "sliding_window", "limit": 1.5, "window_ms": 1}}, "keys": {}},
            "pools.p.limit: must be a positive integer, got 1.5",
        ),
        (
            {"pools": {"p": {"type": "sliding_window", "limit": True, "window_ms": 1}}, "keys": {}},
            "pools.p.limit: must be a positive integer, got True",
        ),
        (
            {
                "pools": {"p": {"type": "token_bucket", "capacity": 1, "refill": -1, "window_ms": 1}},
                "keys": {},
            },
            "pools.p.refill: must be a positive integer",
        ),
        (
            {
                "pools": {
                    "p": {"type": "token_bucket", "capacity": 1, "refill": 1, "window_ms": 1, "burst": 2}
                },
                "keys": {},
            },
            "pools.p.burst: unknown field",
        ),
        ({"pools": {}, "keys": {"k": {"nope": 1}}}, "keys.k.nope: no such pool"),
        ({"pools": {}, "keys": {"k": {}}}, "keys.k: draws on no pool"),
        (
            {"pools": {"p": {"type": "sliding_window", "limit": 5, "window_ms": 1}}, "keys": {"k": {"p": 6}}},
            "keys.k.p: weight 6 exceeds the pool's budget 5",
        ),
        (
            {
                "pools": {"p": {"type": "sliding_window", "limit": 5, "window_ms": 1}},
                "keys": {"k": {"p": "1"}},
            },
            "keys.k.p: must be a positive integer",
        ),
    ],
)
def test_bad_config_is_value_error_naming_key_and_field(config: Any, message: str) -> None:
    with pytest.raises(ValueError, match="^rate limit config: " + message.replace(".", r"\.")):
        RateLimiter.from_config(config)


# ---- acquire / would_wait / acquire_many / available ----


def test_acquire_zero_means_consumed_positive_means_retry_after() -> None:
    lim = lighter_like()
    assert lim.acquire("account", now_ns=T0) == 0
    assert lim.acquire("sendTx", now_ns=T0) == 0
    assert lim.acquire("sendTx", 1, T0) == 0
    assert lim.available("rest", now_ns=T0) == 0
    wait = lim.acquire("sendTx", now_ns=T0 + 5)
    assert wait == 60 * SEC - 5
    assert lim.available("tx", now_ns=T0 + 5) == 0  # the refusal consumed nothing
    assert lim.acquire("sendTx", now_ns=T0 + 5 + wait - 1) > 0
    assert lim.acquire("sendTx", now_ns=T0 + 5 + wait) == 0


def test_acquire_uses_the_monotonic_clock_by_default() -> None:
    lim = RateLimiter.from_config(
        {
            "pools": {"p": {"type": "token_bucket", "capacity": 1, "refill": 1, "window_ms": 3_600_000}},
            "keys": {"k": {"p": 1}},
        }
    )
    assert lim.acquire("k") == 0
    assert lim.acquire("k") > 3_500 * SEC


def test_acquire_errors() -> None:
    lim = lighter_like()
    with pytest.raises(KeyError, match="unknown rate-limit key 'sendTxx'"):
        lim.acquire("sendTxx", now_ns=T0)
    with pytest.raises(ValueError, match="weight: must be >= 0"):
        lim.acquire("sendTx", -1, T0)
    with pytest.raises(ValueError, match="key 'sendTx': weight 3 in pool 'tx' exceeds its budget 2"):
        lim.acquire("sendTx", 3, T0)
    assert lim.available("rest", T0) == 24
    assert lim.acquire("sendTx", 0, T0) == 0  # weight 0: nothing to take
    assert lim.available("rest", T0) == 24


def test_would_wait_consumes_nothing() -> None:
    lim = lighter_like()
    assert lim.would_wait("account", 2, T0) == 0
    assert lim.available("rest", T0) == 24
    lim.acquire("account", 2, T0)
    assert lim.would_wait("account", 1, T0 + 1) == 60 * SEC - 1


def test_acquire_many_is_all_or_nothing() -> None:
    lim = lighter_like()
    lim.acquire("account", now_ns=T0)
    assert lim.acquire_many([("sendTx", 2), ("account", 1)], now_ns=T0) > 0
    assert (lim.available("rest", T0), lim.available("tx", T0)) == (12, 2)
    assert lim.acquire_many([("sendTx", 2)], now_ns=T0) == 0
    assert (lim.available("rest", T0), lim.available("tx", T0)) == (0, 0)
    with pytest.raises(KeyError, match="'nope'"):
        lim.acquire_many([("sendTx", 1), ("nope", 1)], now_ns=T0)


def test_block_until_refuses_requests_on_that_pool() -> None:
    lim = lighter_like()
    lim.block_until("tx", T0 + 3 * SEC)
    assert lim.acquire("sendTx", now_ns=T0) == 3 * SEC
    assert lim.acquire("account", now_ns=T0) == 0  # draws only on "rest"
    assert lim.available("tx", T0) == 2  # nothing consumed by the refusal
    assert lim.acquire("sendTx", now_ns=T0 + 3 * SEC) == 0
    with pytest.raises(KeyError, match="unknown rate-limit pool 'nope'"):
        lim.block_until("nope", T0)


def test_available_unknown_pool_is_key_error() -> None:
    with pytest.raises(KeyError, match="unknown rate-limit pool 'x'"):
        lighter_like().available("x", T0)


def test_refusals_are_reported_to_the_ring() -> None:
    ring = EventRing(8)
    lim = RateLimiter.from_config(
        {"pools": {"p": {"type": "sliding_window", "limit": 1, "window_ms": 1000}}, "keys": {"k": {"p": 1}}},
        ring=ring,
    )
    assert lim.acquire("k", now_ns=T0) == 0
    assert lim.acquire("k", now_ns=T0 + 1) == SEC - 1
    (ev,) = ring.drain()
    assert isinstance(ev, RateLimited)
    assert (ev.key, ev.wait_ns, ev.recv_ns) == ("k", SEC - 1, T0 + 1)


@settings(max_examples=80, deadline=None)
@given(
    kind=st.sampled_from(["sliding_window", "token_bucket"]),
    budget=st.integers(1, 20),
    window_ms=st.integers(1, 50),
    steps=st.lists(st.tuples(st.integers(0, 30_000_000), st.integers(1, 20)), min_size=1, max_size=80),
)
def test_never_more_than_budget_in_any_window_and_waits_are_exact(
    kind: str, budget: int, window_ms: int, steps: list[tuple[int, int]]
) -> None:
    spec: dict[str, Any] = {"type": kind, "window_ms": window_ms}
    spec.update({"limit": budget} if kind == "sliding_window" else {"capacity": budget, "refill": budget})
    lim = RateLimiter.from_config({"pools": {"p": spec}, "keys": {"k": {"p": 1}}})
    window = window_ms * 1_000_000
    now = T0
    grants: list[tuple[int, int]] = []
    for dt, weight in steps:
        now += dt
        weight = min(weight, budget)
        wait = lim.acquire("k", weight, now)
        if wait:
            assert lim.would_wait("k", weight, now + wait - 1) > 0
            now += wait
            assert lim.acquire("k", weight, now) == 0
        grants.append((now, weight))
    # In any window-long interval [t, t + window): at most the budget (windows), or
    # budget + refill for the time elapsed inside it (buckets: budget tokens refill per window).
    for i, (start, _) in enumerate(grants):
        total = 0
        for t, w in grants[i:]:
            if t - start >= window:
                break
            total += w
            limit = budget if kind == "sliding_window" else budget + budget * (t - start) / window
            assert total <= limit


# ---- presets (xtb.ratelimits) ----


@pytest.mark.parametrize(("tier", "budget"), [("premium", 24_000), ("plus", 120_000), ("builder", 240_000)])
def test_lighter_weighted_tiers(tier: str, budget: int) -> None:
    lim = RateLimiter.from_config(ratelimits.lighter(tier))
    assert lim.available("rest", T0) == budget
    assert lim.acquire("sendTx", now_ns=T0) == 0
    assert lim.acquire("orderBookOrders" if "orderBookOrders" in lim.keys else "other", now_ns=T0) == 0
    assert lim.acquire("tokens/create", now_ns=T0) == 0
    assert lim.available("rest", T0) == budget - 6 - 300 - 23_000
    assert not [k for k in lim.keys if k.startswith("tx:")]  # tx limits unpublished for these tiers


def test_lighter_standard_counts_requests_with_caps_and_tx_limits() -> None:
    lim = RateLimiter.from_config(ratelimits.lighter("standard"))
    assert lim.available("rest", T0) == 60
    assert lim.acquire("other", now_ns=T0) == 0
    assert lim.available("rest", T0) == 59  # unweighted
    for _ in range(8):
        assert lim.acquire("changeAccountTier", now_ns=T0) == 0
    assert lim.acquire("changeAccountTier", now_ns=T0) > 0  # 24,000 / 3,000 = 8 per minute
    assert lim.available("tx:default", T0) == 40
    assert lim.available("tx:ChangePubKey", T0) == 2
    assert lim.acquire("tx:ChangePubKey", 2, T0) == 0
    assert lim.acquire("tx:ChangePubKey", 1, T0) == 10 * SEC
    assert lim.acquire("ws_message", 200, T0) == 0


def test_lighter_custom_tx_limits_and_send_tx_request() -> None:
    cfg = ratelimits.lighter("premium", tx_limits={"default": (100, 60_000), "L2Withdraw": (2, 60_000)})
    lim = RateLimiter.from_config(cfg)
    assert ratelimits.lighter_send_tx_request(lim.keys, "CreateOrder") == [("sendTx", 1), ("tx:default", 1)]
    assert ratelimits.lighter_send_tx_request(lim.keys, "L2Withdraw", 2) == [
        ("sendTxBatch", 1),
        ("tx:L2Withdraw", 2),
    ]
    assert ratelimits.lighter_send_tx_request(["sendTx"], "CreateOrder") == [("sendTx", 1)]
    assert lim.acquire_many(ratelimits.lighter_send_tx_request(lim.keys, "CreateOrder", 5), now_ns=T0) == 0
    assert lim.available("tx:default", T0) == 95
    with pytest.raises(ValueError, match="count"):
        ratelimits.lighter_send_tx_request(lim.keys, "CreateOrder", 0)


def test_lighter_rest_key() -> None:
    assert ratelimits.lighter_rest_key("/api/v1/sendTx") == "sendTx"
    assert ratelimits.lighter_rest_key("/api/v1/deposit/latest?x=1") == "deposit/latest"
    assert ratelimits.lighter_rest_key("/api/v1/referral/points") == "referral"
    assert ratelimits.lighter_rest_key("/api/v1/orderBookOrders") == "other"


def test_lighter_bad_tier() -> None:
    with pytest.raises(ValueError, match="tier"):
        ratelimits.lighter("gold")


def test_backpack_default_and_custom() -> None:
    lim = RateLimiter.from_config(backpack_ratelimits.backpack())
    assert sorted(lim.keys) == ["order", "private", "public"]
    assert lim.acquire("order", 20, T0) == 0
    assert lim.acquire("public", now_ns=T0) == SEC // 20
    lim = RateLimiter.from_config(backpack_ratelimits.backpack(requests_per_second=5, burst=10))
    assert lim.available("rest", T0) == 10
    with pytest.raises(ValueError, match="requests_per_second"):
        backpack_ratelimits.backpack(0)
