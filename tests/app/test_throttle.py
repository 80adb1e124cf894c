import pytest

from xtb._core import RateLimiter
from xtb.transport.throttle import SlotNeverGranted, take_slot


def limiter(capacity: int, window_ms: int) -> RateLimiter:
    return RateLimiter.from_config({
        "pools": {"p": {"type": "token_bucket", "capacity": capacity, "refill": capacity, "window_ms": window_ms}},
        "keys": {"k": {"p": 1}},
    })


async def test_waits_exactly_for_the_next_slot_then_takes_it():
    lim = limiter(2, 40)
    assert await take_slot(lim, "k", 2) == 0  # the bucket is full: granted at once
    waited = await take_slot(lim, "k", 1)  # one token comes back after ~20 ms
    assert 5_000_000 <= waited <= 40_000_000
    assert lim.would_wait("k", 1) > 0  # and it was consumed


async def test_a_refusal_already_in_hand_is_slept_first():
    lim = limiter(1, 20)
    await take_slot(lim, "k")
    first = lim.acquire("k", 1)
    assert first > 0
    assert await take_slot(lim, "k", already_waiting_ns=first) >= first


async def test_bounded_when_nothing_is_ever_granted():
    class Never:
        def acquire(self, key, weight=1, now_ns=None):
            return 1_000  # 1 µs, forever

    with pytest.raises(SlotNeverGranted, match="'k'"):
        await take_slot(Never(), "k", max_rounds=5)
